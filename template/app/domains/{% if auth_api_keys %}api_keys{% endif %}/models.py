"""API keys: long-lived credentials a user creates for programs acting on their behalf.

Only a keyed digest of the key is stored; the plaintext is shown once, when the key is issued.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domains.base.models import Entity
from app.domains.users.models import User


class APIKey(Entity):
    __tablename__ = "api_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(lazy="raise")

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def use_is_stale(self, now: datetime, interval: timedelta) -> bool:
        """Whether `last_used_at` is older than `interval` (and so worth writing again)."""
        return self.last_used_at is None or now - self.last_used_at >= interval
