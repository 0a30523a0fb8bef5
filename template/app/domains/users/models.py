"""The user: who can sign in, and with which role."""

from sqlalchemy import CheckConstraint, Enum, String
from sqlalchemy.orm import Mapped, mapped_column

from app.domains.base.authorization import Role
from app.domains.base.models import Entity


class User(Entity):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)

    # Stored lowercased (the schemas normalise), so uniqueness is case-insensitive everywhere.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[Role] = mapped_column(
        Enum(
            Role,
            name="role",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda roles: [role.value for role in roles],
        ),
        default=Role.STANDARD,
    )
