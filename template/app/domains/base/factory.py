"""Test factories: build valid models with one line, overriding only what a test cares about.

A domain's factory subclasses `Factory`, names its model and returns default column values for
the n-th object (`n` keeps unique columns unique). Factories write through the session they are
given and only flush, so each test's transaction rolls the rows back.
"""

import itertools
from collections.abc import Iterator
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.domains.base.models import Entity


class Factory[ModelT: Entity]:
    model: ClassVar[type[Any]]
    _counter: ClassVar[Iterator[int]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._counter = itertools.count(1)

    @classmethod
    def defaults(cls, n: int) -> dict[str, Any]:
        """Column values of the n-th object; override in each factory."""
        return {}

    @classmethod
    def build(cls, **overrides: Any) -> ModelT:
        """A new, unsaved object."""
        n = next(cls._counter)
        return cls.model(**{**cls.defaults(n), **overrides})

    @classmethod
    async def create(cls, session: AsyncSession, **overrides: Any) -> ModelT:
        """A new object, added to `session` and flushed."""
        entity = cls.build(**overrides)
        session.add(entity)
        await session.flush()
        return entity

    @classmethod
    async def create_batch(
        cls, session: AsyncSession, count: int, **overrides: Any
    ) -> list[ModelT]:
        entities = [cls.build(**overrides) for _ in range(count)]
        session.add_all(entities)
        await session.flush()
        return entities
