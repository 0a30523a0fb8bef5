"""Which users a user may see: admins see everyone, a standard user only themself."""

from sqlalchemy import ColumnElement, true

from app.domains.base.authorization import AuthorizationContext, AuthorizationScopeStrategy
from app.domains.users.models import User


class UserScopeStrategy(AuthorizationScopeStrategy[User]):
    def condition(self, context: AuthorizationContext) -> ColumnElement[bool]:
        if context.is_admin:
            return true()
        return User.id == context.user_id
