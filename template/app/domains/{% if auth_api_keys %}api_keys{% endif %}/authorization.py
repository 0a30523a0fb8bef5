"""API keys are visible to their owner only (admins included: nobody sees another's keys)."""

from sqlalchemy import ColumnElement

from app.domains.api_keys.models import APIKey
from app.domains.base.authorization import AuthorizationContext, AuthorizationScopeStrategy


class APIKeyScopeStrategy(AuthorizationScopeStrategy[APIKey]):
    def condition(self, context: AuthorizationContext) -> ColumnElement[bool]:
        return APIKey.user_id == context.user_id
