"""drop albums.spotify_url: never read; the link is made from spotify_album_id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    # batch mode: SQLite rebuilds the table, PostgreSQL drops the column in place.
    with op.batch_alter_table('albums') as batch_op:
        batch_op.drop_column('spotify_url')


def downgrade():
    with op.batch_alter_table('albums') as batch_op:
        batch_op.add_column(sa.Column('spotify_url', sa.String(length=500), nullable=True))
    # Recreate the links the column held, from the ids that remain.
    op.execute(
        "UPDATE albums SET spotify_url = 'https://open.spotify.com/album/' || spotify_album_id "
        "WHERE spotify_album_id IS NOT NULL"
    )
