"""Errors of the users domain."""

from app.domains.base.exceptions import Conflict, PermissionDenied


class EmailAlreadyRegistered(Conflict):
    code = "email_already_registered"

    def __init__(self, email: str | None = None) -> None:
        super().__init__(
            f"a user with e-mail {email} already exists"
            if email is not None
            else "a user with this e-mail already exists"
        )


class AdminRequired(PermissionDenied):
    code = "admin_required"

    def __init__(self, action: str) -> None:
        super().__init__(f"only admins may {action} users")


class CannotChangeOwnRole(PermissionDenied):
    code = "cannot_change_own_role"

    def __init__(self) -> None:
        super().__init__("nobody may change their own role")


class CannotDeleteSelf(PermissionDenied):
    code = "cannot_delete_self"

    def __init__(self) -> None:
        super().__init__("an admin cannot delete their own account")
