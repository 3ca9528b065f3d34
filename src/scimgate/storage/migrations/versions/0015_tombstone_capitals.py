"""member.user_name_lower of a member in Recently removed: the tombstone prefix ``~REMOVED~``

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

While a member is in Recently removed its ``user_name_lower`` holds a tombstone instead of its
lower-cased userName, so that a new member may take the name. The prefix was ``~removed~``,
which is itself a lower-case string: a new member whose userName was ``~removed~`` + a removed
member's id was refused as a duplicate. The prefix now holds capitals, which no lower-cased
userName holds (``str.lower`` leaves no ASCII capital), and the rows already in Recently removed
are rewritten.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE member SET user_name_lower = '~REMOVED~' || substr(user_name_lower, 10) "
               "WHERE removed_at IS NOT NULL AND substr(user_name_lower, 1, 9) = '~removed~'")


def downgrade() -> None:
    op.execute("UPDATE member SET user_name_lower = '~removed~' || substr(user_name_lower, 10) "
               "WHERE removed_at IS NOT NULL AND substr(user_name_lower, 1, 9) = '~REMOVED~'")
