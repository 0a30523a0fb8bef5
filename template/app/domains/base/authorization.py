"""Who is acting, and which rows they may see.

Two layers keep data safe (see the README): services decide whether an actor may perform an
action, and repositories restrict every statement to the rows the actor may see. An `Actor` is
either an `AuthorizationContext` (a user) or `SYSTEM` (background jobs, webhooks, scripts).
"""

import enum
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Final, TypeVar

from sqlalchemy import ColumnElement, Delete, Select, Update


class Role(enum.StrEnum):
    STANDARD = "standard"
    ADMIN = "admin"


class AuthorizationContext(ABC):
    """The authenticated user on whose behalf an operation runs."""

    @property
    @abstractmethod
    def user_id(self) -> uuid.UUID: ...

    @property
    @abstractmethod
    def user_email(self) -> str: ...

    @property
    @abstractmethod
    def user_role(self) -> Role: ...

    @property
    def is_admin(self) -> bool:
        return self.user_role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class UserContext(AuthorizationContext):
    """An `AuthorizationContext` built from plain values (by the API, or by tests)."""

    id: uuid.UUID
    email: str
    role: Role

    @property
    def user_id(self) -> uuid.UUID:
        return self.id

    @property
    def user_email(self) -> str:
        return self.email

    @property
    def user_role(self) -> Role:
        return self.role


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
