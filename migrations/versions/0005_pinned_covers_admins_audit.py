"""administrators, the audit log, pinned covers and rejected matches (issue 17)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'admins',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=300), nullable=False),
        sa.Column('name_key', sa.String(length=300), nullable=False),
        sa.Column('password_hash', sa.String(length=512), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
        sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_admins')),
        sa.UniqueConstraint('name_key', name=op.f('uq_admins_name_key')),
    )
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
        sa.Column('actor', sa.String(length=300), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('album_id', sa.Integer(), nullable=True),
        sa.Column('address', sa.String(length=64), nullable=True),
        sa.Column('old_cover', sa.Text(), nullable=True),
        sa.Column('new_cover', sa.Text(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    with op.batch_alter_table('audit_log') as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'])
        batch_op.create_index(batch_op.f('ix_audit_log_album_id'), ['album_id'])
    with op.batch_alter_table('albums') as batch_op:
        batch_op.add_column(sa.Column('cover_pinned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cover_pinned_by', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('cover_rejected', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_albums_cover_pinned_at'), ['cover_pinned_at'])


def downgrade():
    with op.batch_alter_table('albums') as batch_op:
        batch_op.drop_index(batch_op.f('ix_albums_cover_pinned_at'))
        batch_op.drop_column('cover_rejected')
        batch_op.drop_column('cover_pinned_by')
        batch_op.drop_column('cover_pinned_at')
    op.drop_table('audit_log')
    op.drop_table('admins')
