"""Domain errors: what went wrong in business terms, with no HTTP in sight.

Adapters translate them: the API maps each class to a status code in `app/api/exceptions.py`;
background jobs decide whether to retry (they never retry a domain error).
"""

from collections.abc import Sequence
from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error a domain raises on purpose."""

    code: str = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The row does not exist, or the actor may not see it (the two are indistinguishable)."""

    code = "not_found"


class PermissionDenied(DomainError):
    """The actor may see the row (or the collection) but not perform this action."""

    code = "permission_denied"


class Conflict(DomainError):
    """The action contradicts the current state (a duplicate, a limit reached, ...)."""

    code = "conflict"


class AuthenticationFailed(DomainError):
    """The presented credential is unknown, expired or revoked."""

    code = "authentication_failed"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class ValidationFailed(DomainError):
    """The input is well formed but not acceptable (an unknown sort field, a bad cursor, ...)."""

    code = "validation_failed"

    def __init__(self, message: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.errors = tuple(errors)

    @classmethod
    def for_field(cls, field: str, message: str) -> "ValidationFailed":
        return cls(f"{field}: {message}", [FieldError(field, message)])
