"""One application per distinct settings for the whole session, a fresh lifespan for each test.

FastAPI prepares a route (its dependencies, its request and response validators) the first time
a request reaches its router, about half a millisecond per route: building the application
again for every test spent a fifth of the suite doing that. Each test still gets what a new
application would give it: the state `create_app` set up, its own settings object (a test may
change it), no dependency overrides, a fresh lifespan (caller cache, rate limiter, HTTP clients),
and the database of its own transaction.
"""

from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from app.infrastructure.config import Settings
from app.infrastructure.database import Database


@dataclass
class _Built:
    settings: Settings
    application: FastAPI
    state: dict[str, Any]


class Applications:
    """Applications built by `build`, kept by the settings they were built with."""

    def __init__(self, build: Callable[[Settings], FastAPI]) -> None:
        self._build = build
        self._built: list[_Built] = []

    def _for(self, settings: Settings) -> _Built:
        for built in self._built:
            if built.settings == settings:
                return built
        frozen = settings.model_copy(deep=True)
        application = self._build(frozen)
        built = _Built(frozen, application, dict(application.state._state))
        self._built.append(built)
        return built

    @asynccontextmanager
    async def serving(self, settings: Settings, database: Database) -> AsyncGenerator[FastAPI]:
        """The application for `settings`, as new, its requests running on `database`."""
        built = self._for(settings)
        application = built.application
        # Starlette's State keeps attributes in `_state`; assigning `_state` would add a key.
        application.state._state.clear()
        application.state._state.update(built.state, settings=settings)
        application.dependency_overrides.clear()
        async with application.router.lifespan_context(application):
            application.state.database = database
            yield application
