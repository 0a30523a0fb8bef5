"""Errors of the API keys domain."""

from app.domains.base.exceptions import AuthenticationFailed, Conflict, ValidationFailed


class InvalidAPIKey(AuthenticationFailed):
    code = "invalid_api_key"

    def __init__(self) -> None:
        super().__init__("the API key is unknown, expired or revoked")


class APIKeyLimitReached(Conflict):
    code = "api_key_limit_reached"

    def __init__(self, limit: int) -> None:
        super().__init__(f"you already have {limit} active API keys; revoke one first")
        self.limit = limit


class ExpiryInThePast(ValidationFailed):
    code = "expiry_in_the_past"

    def __init__(self) -> None:
        super().__init__("expires_at: must be in the future")
