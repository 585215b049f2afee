"""albums: drop five indexes no query uses (issue 19: every import paid for them)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

title_key and artist_id lead other indexes already (ix_albums_sort_title and
uq_albums_artist_title); nothing filters or orders by year, created_at or cover_url
alone (the catalog's orders have their own sort keys). Each was written on every
imported album and every stored cover: 10,000 albums into PostgreSQL spent about a
tenth of a second on them.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

DROPPED = {
    'ix_albums_title_key': ['title_key'],
    'ix_albums_artist_id': ['artist_id'],
    'ix_albums_year': ['year'],
    'ix_albums_created_at': ['created_at'],
    'ix_albums_cover_url': ['cover_url'],
}


def upgrade():
    with op.batch_alter_table('albums') as batch_op:
        for name in DROPPED:
            batch_op.drop_index(name)


def downgrade():
    with op.batch_alter_table('albums') as batch_op:
        for name, columns in DROPPED.items():
            batch_op.create_index(name, columns, unique=False)
