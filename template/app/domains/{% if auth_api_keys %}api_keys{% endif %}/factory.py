"""Factories for tests of the API keys domain."""

import secrets
from typing import Any

from app.domains.api_keys.models import APIKey
from app.domains.api_keys.service import KEY_PREFIX
from app.domains.base.factory import Factory


class APIKeyFactory(Factory[APIKey]):
    """Keys with a random digest. A test that authenticates with a key issues it through
    `APIKeyService.issue`, the only place a plaintext exists."""

    model = APIKey

    @classmethod
    def defaults(cls, n: int) -> dict[str, Any]:
        return {
            "name": f"key {n}",
            "prefix": f"{KEY_PREFIX}{n:07d}",
            "key_hash": secrets.token_hex(32),
        }
