"""The base repository: scoping of every statement, lists, pagination, bulk operations.

The users repository stands in for any repository: its scope lets a standard user see only
their own row and an admin see every row.
"""

import base64
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Uuid, bindparam, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.domains.base.authorization import SYSTEM, AuthorizationContext, Role
from app.domains.base.exceptions import NotFound, ValidationFailed
from app.domains.base.filters import (
    MAX_CURSOR_LENGTH,
    Cursor,
    KeysetParams,
    PageParams,
    SortParams,
)
from app.domains.users.factory import UserFactory
from app.domains.users.models import User
from app.domains.users.repository import UserRepository
from app.domains.users.schemas import UserFilters
from tests.support.database import statements

NO_FILTERS = UserFilters()


def node_types(plan: dict[str, Any]) -> list[str]:
    """The node types of a PostgreSQL plan, its subplans' included."""
    return [
        plan["Node Type"],
        *(kind for child in plan.get("Plans", []) for kind in node_types(child)),
    ]


@pytest.fixture
async def users(session: AsyncSession) -> list[User]:
    return await UserFactory.create_batch(session, 5)


def test_repository_needs_an_actor(session: AsyncSession) -> None:
    with pytest.raises(TypeError, match="AuthorizationContext or SYSTEM"):
        UserRepository(session, cast(Any, None))


async def test_standard_user_reads_only_their_own_row(
    session: AsyncSession, users: list[User]
) -> None:
    me, other = users[0], users[1]
    repository = UserRepository(session, AuthorizationContext.of(me))
    assert await repository.get(me.id) is me
    assert await repository.get(other.id) is None
    assert await repository.get_many([me.id, other.id]) == [me]
    assert await repository.get_by_email(other.email) is None
    rows, total = await repository.list_page(NO_FILTERS)
    assert (rows, total) == ([me], 1)


async def test_system_and_admin_see_every_row(session: AsyncSession, users: list[User]) -> None:
    admin = await UserFactory.create(session, role=Role.ADMIN)
    for actor in (SYSTEM, AuthorizationContext.of(admin)):
        _, total = await UserRepository(session, actor).list_page(NO_FILTERS)
        assert total == len(users) + 1


async def test_update_outside_scope_is_not_found_and_changes_nothing(
    session: AsyncSession, users: list[User]
) -> None:
    me, other = users[0], users[1]
    repository = UserRepository(session, AuthorizationContext.of(me))
    with pytest.raises(NotFound):
        await repository.update(other, {"email": "stolen@example.com"})
    await session.refresh(other)
    assert other.email != "stolen@example.com"


async def test_update_in_scope_writes_and_refreshes(
    session: AsyncSession, users: list[User]
) -> None:
    me = users[0]
    before = me.updated_at
    updated = await UserRepository(session, AuthorizationContext.of(me)).update(
        me, {"email": "new@example.com"}
    )
    assert updated is me
    assert me.email == "new@example.com"
    assert me.updated_at >= before


async def test_bulk_update_and_delete_touch_only_rows_in_scope(
    session: AsyncSession, users: list[User]
) -> None:
    me = users[0]
    ids = [user.id for user in users]
    repository = UserRepository(session, AuthorizationContext.of(me))
    assert await repository.update_many(ids, {"role": Role.ADMIN}) == 1
    assert await repository.delete_many(ids) == 1
    system = UserRepository(session, SYSTEM)
    remaining = await system.get_many(ids)
    assert {user.id for user in remaining} == set(ids[1:])
    assert all(user.role is Role.STANDARD for user in remaining)


async def test_delete_outside_scope_is_not_found(session: AsyncSession, users: list[User]) -> None:
    me, other = users[0], users[1]
    with pytest.raises(NotFound):
        await UserRepository(session, AuthorizationContext.of(me)).delete(other)
    assert await UserRepository(session, SYSTEM).get(other.id) is other


async def test_bulk_create_adds_every_row(session: AsyncSession) -> None:
    repository = UserRepository(session, SYSTEM)
    created = await repository.add_all([UserFactory.build() for _ in range(3)])
    assert len(await repository.get_many([user.id for user in created])) == 3


async def test_filters_and_search(session: AsyncSession) -> None:
    await UserFactory.create(session, email="ada@lovelace.example.com", role=Role.ADMIN)
    await UserFactory.create(session, email="alan@turing.example.com")
    repository = UserRepository(session, SYSTEM)

    rows, _ = await repository.list_page(UserFilters(search="TURING"))
    assert [row.email for row in rows] == ["alan@turing.example.com"]
    rows, _ = await repository.list_page(UserFilters(role=Role.ADMIN))
    assert [row.email for row in rows] == ["ada@lovelace.example.com"]
    rows, _ = await repository.list_page(UserFilters(email="ALAN@turing.example.com"))
    assert [row.email for row in rows] == ["alan@turing.example.com"]
    rows, total = await repository.list_page(UserFilters(search="%"))
    assert (rows, total) == ([], 0)


async def test_case_insensitive_search_ignores_the_case_of_every_letter(
    session: AsyncSession,
) -> None:
    """`icontains` (the generated domains' search) finds the same rows on SQLite, whose own
    `lower()` changes only ASCII letters, as on PostgreSQL with a UTF-8 locale."""
    if await session.scalar(select(func.lower("É"))) == "É":
        pytest.skip("this PostgreSQL database's LC_CTYPE (C) changes ASCII letters only")
    for email in ("é@example.com", "éclair@example.com", "e@example.com"):
        await UserFactory.create(session, email=email)
    found = await session.scalars(
        select(User.email).where(User.email.icontains("É")).order_by(User.email)
    )
    assert list(found) == ["é@example.com", "éclair@example.com"]
    for value in ("é", "É", "ÉCLAIR", "Éclair"):
        assert await session.scalar(select(literal(value).icontains("é"))), value
        assert await session.scalar(select(func.lower(value))) == value.lower()


async def test_a_page_past_the_last_still_has_the_total(
    session: AsyncSession, users: list[User]
) -> None:
    repository = UserRepository(session, SYSTEM)
    rows, total = await repository.list_page(NO_FILTERS, page=PageParams(page=4, size=2))
    assert (rows, total) == ([], 5)
    rows, total = await repository.list_page(
        UserFilters(role=Role.ADMIN), page=PageParams(page=2, size=2)
    )
    admins = sum(user.role is Role.ADMIN for user in users)
    assert (rows, total) == ([], admins)


async def test_a_page_is_one_statement_that_reads_only_its_rows(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    """The total comes with the page, but counting it must not make the database read and
    sort every matching row before LIMIT (a window count did)."""
    await UserFactory.create_batch(session, 40)
    repository = UserRepository(session, SYSTEM)
    with statements(connection) as issued:
        rows, total = await repository.list_page(
            NO_FILTERS, sort=SortParams.parse("email"), page=PageParams(page=2, size=5)
        )
    assert (len(rows), total) == (5, 40)
    assert len(issued) == 1
    if connection.dialect.name != "postgresql":
        return
    # No window over every matching row: the count is a subquery run once, so the page's
    # ORDER BY ... LIMIT can stop after its rows (an index read in order, on a large table).
    statement, parameters = issued[0]
    explained = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
    plan = explained.scalar_one()
    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    assert plan["Node Type"] == "Limit", plan
    assert "WindowAgg" not in node_types(plan), plan


async def test_sorting_and_page_size(session: AsyncSession, users: list[User]) -> None:
    repository = UserRepository(session, SYSTEM)
    emails = sorted(user.email for user in users)
    first, total = await repository.list_page(
        NO_FILTERS, sort=SortParams.parse("email"), page=PageParams(page=1, size=2)
    )
    last, _ = await repository.list_page(
        NO_FILTERS, sort=SortParams.parse("email"), page=PageParams(page=3, size=2)
    )
    assert total == 5
    assert [user.email for user in first] == emails[:2]
    assert [user.email for user in last] == emails[4:]
    descending, _ = await repository.list_page(NO_FILTERS, sort=SortParams.parse("-email"))
    assert [user.email for user in descending] == emails[::-1]


async def test_unknown_sort_field_is_a_validation_error(session: AsyncSession) -> None:
    with pytest.raises(ValidationFailed, match="sortable fields: created_at, email"):
        await UserRepository(session, SYSTEM).list_page(NO_FILTERS, sort=SortParams("password"))


@pytest.mark.parametrize("sort", ["email", "-email", "created_at", "-created_at"])
async def test_keyset_pages_cover_every_row_once(
    session: AsyncSession, users: list[User], sort: str
) -> None:
    repository = UserRepository(session, SYSTEM)
    seen: list[uuid.UUID] = []
    cursor: Cursor | None = None
    for _ in range(10):
        rows, cursor = await repository.list_keyset(
            NO_FILTERS, sort=SortParams.parse(sort), keyset=KeysetParams(after=cursor, limit=2)
        )
        seen.extend(row.id for row in rows)
        if cursor is None:
            break
    expected, _ = await repository.list_page(NO_FILTERS, sort=SortParams.parse(sort))
    assert seen == [user.id for user in expected]


async def test_keyset_pages_cover_rows_timed_by_the_server_default_once(
    session: AsyncSession,
) -> None:
    """Rows written by SQL take their times from the server default (on SQLite, text without
    microseconds), rows written by the ORM from Python; every page still follows the last."""
    insert = text("INSERT INTO users (id, email, role) VALUES (:id, :email, 'standard')")
    ids = [uuid.uuid4() for _ in range(7)]
    await session.execute(
        insert.bindparams(bindparam("id", type_=Uuid())),
        [{"id": user_id, "email": f"sql{n}@example.com"} for n, user_id in enumerate(ids)],
    )
    repository = UserRepository(session, SYSTEM)
    stamped = (await repository.get_many(ids))[0].created_at
    for offset in (0, 0, 1, -1):  # the same time as the rows written by SQL, and around it
        at = stamped + timedelta(microseconds=offset)
        await UserFactory.create(session, created_at=at, updated_at=at)
    for sort in ("created_at", "-created_at", "updated_at", "-updated_at"):
        params = SortParams.parse(sort)
        everyone, _ = await repository.list_page(NO_FILTERS, sort=params)
        column = params.field
        expected = sorted(everyone, key=lambda user: (getattr(user, column), user.id))
        if params.descending:
            expected.reverse()
        seen: list[uuid.UUID] = []
        cursor: Cursor | None = None
        for _ in range(len(expected)):
            rows, cursor = await repository.list_keyset(
                NO_FILTERS, sort=params, keyset=KeysetParams(after=cursor, limit=2)
            )
            seen.extend(row.id for row in rows)
            if cursor is None:
                break
        assert seen == [user.id for user in expected], sort


async def test_keyset_rejects_a_cursor_of_another_sort_or_garbage(
    session: AsyncSession, users: list[User]
) -> None:
    repository = UserRepository(session, SYSTEM)
    _, cursor = await repository.list_keyset(
        NO_FILTERS, sort=SortParams.parse("email"), keyset=KeysetParams(limit=1)
    )
    assert cursor is not None
    with pytest.raises(ValidationFailed, match="cursor"):
        await repository.list_keyset(
            NO_FILTERS, sort=SortParams.parse("-email"), keyset=KeysetParams(after=cursor)
        )
    with pytest.raises(ValidationFailed, match="cursor"):
        Cursor.decode("not a cursor!")
    tampered = Cursor(sort="email", value="x", id="not-a-uuid")
    with pytest.raises(ValidationFailed, match="cursor"):
        await repository.list_keyset(
            NO_FILTERS, sort=SortParams.parse("email"), keyset=KeysetParams(after=tampered)
        )


@pytest.mark.parametrize(
    ("sort", "value"),
    [
        ("-created_at", "2025-01-01T00:00:00"),  # no offset: which UTC time is it?
        ("created_at", "2025-01-01"),
        ("-created_at", "9999-12-31T23:59:59-14:00"),  # after year 9999 in UTC
        ("created_at", 20250101),
        ("email", "a\x00b"),  # PostgreSQL refuses NUL characters in text
    ],
)
async def test_keyset_refuses_a_cursor_value_no_database_can_compare(
    session: AsyncSession, users: list[User], sort: str, value: object
) -> None:
    cursor = Cursor.decode(Cursor(sort=sort, value=value, id=str(uuid.uuid4())).encode())
    with pytest.raises(ValidationFailed, match="cursor"):
        await UserRepository(session, SYSTEM).list_keyset(
            NO_FILTERS, sort=SortParams.parse(sort), keyset=KeysetParams(after=cursor)
        )


def test_a_cursor_too_long_or_too_deep_is_refused_before_it_is_read() -> None:
    too_long = Cursor(sort="email", value="x" * 2000, id=str(uuid.uuid4())).encode()
    too_deep = base64.urlsafe_b64encode(b"[" * 1_500).decode()  # within the length bound
    assert len(too_deep) <= MAX_CURSOR_LENGTH
    for token in (too_long, too_deep):
        with pytest.raises(ValidationFailed, match="cursor"):
            Cursor.decode(token)


def test_cursor_round_trips() -> None:
    cursor = Cursor(sort="-created_at", value="2025-01-01T00:00:00+00:00", id=str(uuid.uuid4()))
    assert Cursor.decode(cursor.encode()) == cursor
    # The longest text a list sorts on (an e-mail address), in characters of 4 bytes each.
    widest = Cursor(sort="-email", value="\U0001f600" * 320, id=str(uuid.uuid4()))
    assert Cursor.decode(widest.encode()) == widest


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: PageParams(page=0), "page"),
        (lambda: PageParams(size=0), "size"),
        (lambda: PageParams(size=10_000), "size"),
        (lambda: KeysetParams(limit=0), "limit"),
        (lambda: SortParams.parse("-"), "sort"),
    ],
)
def test_list_parameters_are_validated(factory: Callable[[], object], message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        factory()
