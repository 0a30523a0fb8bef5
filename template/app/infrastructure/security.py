"""Cryptographic primitives used by authentication: random tokens and keyed digests.

Only these helpers touch secrets; callers pass the server secret in, so the domain stays free of
settings and nothing here logs or stores a plaintext.
"""

import hashlib
import hmac
import secrets


def generate_token(prefix: str, *, nbytes: int = 32) -> str:
    """A URL-safe random token with a recognisable prefix (256 bits of entropy by default)."""
    return prefix + secrets.token_urlsafe(nbytes)


def keyed_digest(secret: str, value: str) -> str:
    """HMAC-SHA256 of `value` under `secret`, hex encoded: what is stored instead of a token."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()
