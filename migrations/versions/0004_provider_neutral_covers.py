"""albums: provider-neutral cover columns, a Spotify search match kept apart (issue 15)

The Spotify cover columns become the cover's, whichever source it came from; every
cached cover is kept and marked as Spotify's.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

RENAMES = (
    ('spotify_cover_url', 'cover_url'),
    ('spotify_cover_cached_at', 'cover_cached_at'),
    ('spotify_images', 'cover_images'),
)
CHECK = 'cover_cache_consistent'


def _swap(old_names, new_names):
    url, cached_at, _images = new_names
    with op.batch_alter_table('albums') as batch_op:
        batch_op.drop_index(f'ix_albums_{old_names[0]}')
        batch_op.drop_index(f'ix_albums_{old_names[1]}')
        batch_op.drop_constraint(op.f(f'ck_albums_{CHECK}'), type_='check')
        for old, new in zip(old_names, new_names):
            batch_op.alter_column(old, new_column_name=new)
    with op.batch_alter_table('albums') as batch_op:
        batch_op.create_index(f'ix_albums_{url}', [url])
        batch_op.create_index(f'ix_albums_{cached_at}', [cached_at])
        batch_op.create_check_constraint(
            op.f(f'ck_albums_{CHECK}'), sa.text(f'({url} IS NULL) = ({cached_at} IS NULL)')
        )


def upgrade():
    _swap([o for o, _ in RENAMES], [n for _, n in RENAMES])
    with op.batch_alter_table('albums') as batch_op:
        batch_op.add_column(sa.Column('spotify_match_id', sa.String(length=22), nullable=True))
        batch_op.add_column(sa.Column('cover_source', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('cover_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('cover_retry_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cover_outcomes', sa.JSON(none_as_null=True), nullable=True))
    op.execute("UPDATE albums SET cover_source = 'spotify' WHERE cover_url IS NOT NULL")


def downgrade():
    # Covers from other sources have no Spotify column to go back to: dropped.
    op.execute(
        "UPDATE albums SET cover_url = NULL, cover_cached_at = NULL, cover_images = NULL "
        "WHERE cover_source IS NOT NULL AND cover_source <> 'spotify'"
    )
    with op.batch_alter_table('albums') as batch_op:
        for column in ('cover_outcomes', 'cover_retry_at', 'cover_status', 'cover_source',
                       'spotify_match_id'):
            batch_op.drop_column(column)
    _swap([n for _, n in RENAMES], [o for o, _ in RENAMES])
