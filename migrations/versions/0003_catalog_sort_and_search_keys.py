"""albums: sort and search keys for keyset pagination and indexed search (issue 10)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

"""
from alembic import op
import sqlalchemy as sa

from app.models import sort_columns


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

KEYS = ('artist_key', 'year_key', 'year_desc_key', 'search_key')
BATCH = 2000


def _backfill():
    """Write every stored album's keys, the same way the importer writes new ones."""
    bind = op.get_bind()
    albums = sa.table(
        'albums', sa.column('id'), sa.column('title'), sa.column('year'),
        *(sa.column(k) for k in KEYS),
    )
    rows = bind.execute(
        sa.text(
            'SELECT albums.id, albums.title, albums.year, artists.name FROM albums '
            'JOIN artists ON artists.id = albums.artist_id ORDER BY albums.id'
        )
    ).all()
    stmt = albums.update().where(albums.c.id == sa.bindparam('_id')).values(
        {k: sa.bindparam(k) for k in KEYS}
    )
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        bind.execute(
            stmt,
            [{'_id': r.id, **sort_columns(r.title, r.name, r.year)} for r in chunk],
        )


def upgrade():
    with op.batch_alter_table('albums') as batch_op:
        batch_op.add_column(sa.Column('artist_key', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('year_key', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('year_desc_key', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('search_key', sa.Text(), nullable=True))
    _backfill()
    with op.batch_alter_table('albums') as batch_op:
        for key in KEYS:
            batch_op.alter_column(key, nullable=False)
        batch_op.create_index('ix_albums_sort_artist', ['artist_key', 'year_key', 'title_key', 'id'])
        batch_op.create_index('ix_albums_sort_title', ['title_key', 'artist_key', 'id'])
        batch_op.create_index('ix_albums_sort_year', ['year_desc_key', 'artist_key', 'title_key', 'id'])
    if op.get_bind().dialect.name == 'postgresql':
        # Trigram index: `search_key LIKE '%velvet%'` reads the index, not every row.
        # pg_trgm ships with PostgreSQL and is a trusted extension (PostgreSQL 13+).
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.execute(
            'CREATE INDEX ix_albums_search_trgm ON albums USING gin (search_key gin_trgm_ops)'
        )


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_albums_search_trgm')
    with op.batch_alter_table('albums') as batch_op:
        batch_op.drop_index('ix_albums_sort_year')
        batch_op.drop_index('ix_albums_sort_title')
        batch_op.drop_index('ix_albums_sort_artist')
        for key in reversed(KEYS):
            batch_op.drop_column(key)
