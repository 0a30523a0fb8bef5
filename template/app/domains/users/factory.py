"""Factories for tests of the users domain."""

from typing import Any

from app.domains.base.authorization import Role
from app.domains.base.factory import Factory
from app.domains.users.models import User


class UserFactory(Factory[User]):
    model = User

    @classmethod
    def defaults(cls, n: int) -> dict[str, Any]:
        return {"email": f"user{n}@example.com", "role": Role.STANDARD}
