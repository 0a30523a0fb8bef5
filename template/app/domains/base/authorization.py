"""Who is acting, and which rows they may see.

Two layers keep data safe (see the README): services decide whether an actor may perform an
action, and repositories restrict every statement to the rows the actor may see. An `Actor` is
either an `AuthorizationContext` (a user) or `SYSTEM` (background jobs, webhooks, scripts).
"""

import enum
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Final, Protocol, Self, TypeVar

from sqlalchemy import ColumnElement, Delete, Select, Update


class Role(enum.StrEnum):
    STANDARD = "standard"
    ADMIN = "admin"


class Identity(Protocol):
    """What a caller is built from: a `User` row, or its `UserRead` schema."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def email(self) -> str: ...

    @property
    def role(self) -> Role: ...


@dataclass(frozen=True, slots=True)
class AuthorizationContext:
    """The authenticated user on whose behalf an operation runs."""

    user_id: uuid.UUID
    user_email: str
    user_role: Role

    @classmethod
    def of(cls, user: Identity) -> Self:
        return cls(user_id=user.id, user_email=user.email, user_role=user.role)

    @property
    def is_admin(self) -> bool:
        return self.user_role is Role.ADMIN


class UserContext(AuthorizationContext):
    """`AuthorizationContext` under the keywords of earlier releases (`id`, `email`, `role`).

    Kept so code written against them still runs; new code uses `AuthorizationContext.of(user)`.
    """

    __slots__ = ()

    def __init__(self, *, id: uuid.UUID, email: str, role: Role) -> None:
        super().__init__(user_id=id, user_email=email, user_role=role)


class SystemContext:
    """The trusted actor of background jobs, webhooks and scripts: the one instance is `SYSTEM`."""

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM: Final = SystemContext()

Actor = AuthorizationContext | SystemContext

Statement = TypeVar("Statement", Select, Update, Delete)


class AuthorizationScopeStrategy[ModelT](ABC):
    """How a domain restricts statements to the rows a user may see.

    Strategies only ever receive a real user context: the repository handles `SYSTEM` before
    calling them. `condition` is the single place a domain states its rule; `apply_scope`
    applies it to selects, updates and deletes alike.
    """

    def __init__(self, model: type[ModelT]) -> None:
        self.model = model

    @abstractmethod
    def condition(self, context: AuthorizationContext) -> ColumnElement[bool]:
        """A SQL condition true for exactly the rows `context` may see."""

    def apply_scope(self, query: Statement, context: AuthorizationContext) -> Statement:
        return query.where(self.condition(context))
