"""Authentication: one module per credential this service accepts, and the cache of the callers
they authenticated (caller_cache.py). `app/api/dependencies.py` tries the credentials in order
and gives routes the caller (`CurrentUser`, `AuthContext`)."""
