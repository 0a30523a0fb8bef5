"""Users routes for every kind of caller: anonymous, standard owner, another standard user,
admin. No response ever carries a row outside the caller's scope."""

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.domains.base.authorization import Role
from app.domains.users.models import User
from app.domains.users.schemas import UserUpdate
from app.domains.users.service import UserService
from tests.conftest import AuthHeaders


def ids_in(body: object) -> set[str]:
    """Every "id" anywhere in a JSON body."""
    found: set[str] = set()
    if isinstance(body, dict):
        if isinstance(body.get("id"), str):
            found.add(body["id"])
        for value in body.values():
            found |= ids_in(value)
    elif isinstance(body, list):
        for value in body:
            found |= ids_in(value)
    return found


@pytest.fixture
async def callers(
    admin: User, alice: User, bob: User, any_auth_headers: AuthHeaders
) -> dict[str, dict[str, str]]:
    """Every kind of caller; with several kinds of credential, each runs the matrix."""
    return {
        "anonymous": {},
        "alice": await any_auth_headers(alice),
        "bob": await any_auth_headers(bob),
        "admin": await any_auth_headers(admin),
    }


# (caller, method, path template, expected status). {alice} is alice's id, {admin} the admin's.
MATRIX = [
    ("anonymous", "GET", "/me", 401),
    ("alice", "GET", "/me", 200),
    ("admin", "GET", "/me", 200),
    ("anonymous", "GET", "/users", 401),
    ("alice", "GET", "/users", 200),
    ("admin", "GET", "/users", 200),
    ("anonymous", "GET", "/users/{alice}", 401),
    ("alice", "GET", "/users/{alice}", 200),
    ("bob", "GET", "/users/{alice}", 404),
    ("admin", "GET", "/users/{alice}", 200),
    ("alice", "GET", "/users/{missing}", 404),
    ("admin", "GET", "/users/{missing}", 404),
    ("anonymous", "POST", "/users", 401),
    ("alice", "POST", "/users", 403),
    ("admin", "POST", "/users", 201),
    ("anonymous", "PATCH", "/users/{alice}", 401),
    ("alice", "PATCH", "/users/{alice}", 403),
    ("bob", "PATCH", "/users/{alice}", 404),
    ("admin", "PATCH", "/users/{alice}", 200),
    ("admin", "PATCH", "/users/{missing}", 404),
    ("anonymous", "DELETE", "/users/{alice}", 401),
    ("alice", "DELETE", "/users/{alice}", 403),
    ("bob", "DELETE", "/users/{alice}", 404),
    ("admin", "DELETE", "/users/{admin}", 403),
    ("admin", "DELETE", "/users/{alice}", 204),
    ("admin", "DELETE", "/users/{missing}", 404),
]


@pytest.mark.parametrize(("caller", "method", "path", "status"), MATRIX)
async def test_users_matrix(
    client: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    admin: User,
    alice: User,
    bob: User,
    caller: str,
    method: str,
    path: str,
    status: int,
) -> None:
    url = "/api/v1" + path.format(alice=alice.id, admin=admin.id, missing=uuid.uuid4())
    body = None
    if method == "POST":
        body = {"email": "created@example.com"}
    elif method == "PATCH":
        body = {"email": "renamed@example.com"}
    response = await client.request(method, url, headers=callers[caller], json=body)

    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status
    if response.content:
        visible = {
            "anonymous": set(),
            "alice": {str(alice.id)},
            "bob": {str(bob.id)},
            "admin": {str(admin.id), str(alice.id), str(bob.id)},
        }[caller]
        user_ids = {str(admin.id), str(alice.id), str(bob.id)}
        assert ids_in(response.json()) & user_ids <= visible


async def test_list_for_a_standard_user_holds_only_themself(
    client: httpx.AsyncClient, callers: dict[str, dict[str, str]], alice: User
) -> None:
    response = await client.get("/api/v1/users", headers=callers["alice"])
    body = response.json()
    assert [item["id"] for item in body["items"]] == [str(alice.id)]
    assert body["total"] == 1


async def test_admin_lists_with_filters_sort_and_pages(
    client: httpx.AsyncClient, callers: dict[str, dict[str, str]], admin: User
) -> None:
    headers = callers["admin"]
    everyone = (await client.get("/api/v1/users", headers=headers)).json()
    assert everyone["total"] == 3

    admins = await client.get("/api/v1/users", headers=headers, params={"role": "admin"})
    assert [item["id"] for item in admins.json()["items"]] == [str(admin.id)]

    page = await client.get(
        "/api/v1/users", headers=headers, params={"sort": "email", "size": 2, "page": 2}
    )
    emails = sorted(item["email"] for item in everyone["items"])
    assert [item["email"] for item in page.json()["items"]] == emails[2:]
    assert page.json()["pages"] == 2


async def test_me_returns_the_caller(
    client: httpx.AsyncClient, callers: dict[str, dict[str, str]], bob: User
) -> None:
    response = await client.get("/api/v1/me", headers=callers["bob"])
    assert response.json()["email"] == bob.email
    assert response.json()["role"] == "standard"


async def test_admin_creates_and_promotes_a_user(
    client: httpx.AsyncClient, callers: dict[str, dict[str, str]]
) -> None:
    headers = callers["admin"]
    created = await client.post(
        "/api/v1/users", headers=headers, json={"email": "Grace@Example.com"}
    )
    assert created.status_code == 201
    assert created.json()["email"] == "grace@example.com"
    duplicate = await client.post(
        "/api/v1/users", headers=headers, json={"email": "grace@example.com"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "email_already_registered"
    promoted = await client.patch(
        f"/api/v1/users/{created.json()['id']}", headers=headers, json={"role": Role.ADMIN.value}
    )
    assert promoted.json()["role"] == "admin"


async def test_admin_cannot_change_their_own_role(
    client: httpx.AsyncClient, callers: dict[str, dict[str, str]], admin: User
) -> None:
    response = await client.patch(
        f"/api/v1/users/{admin.id}", headers=callers["admin"], json={"role": "standard"}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "cannot_change_own_role"


async def test_deleting_a_user_removes_their_credentials(
    client: httpx.AsyncClient, callers: dict[str, dict[str, str]], alice: User
) -> None:
    deleted = await client.delete(f"/api/v1/users/{alice.id}", headers=callers["admin"])
    assert deleted.status_code == 204
    response = await client.get("/api/v1/me", headers=callers["alice"])
    assert response.status_code == 401


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
async def test_an_admin_demoted_elsewhere_changes_no_user(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: User,
    alice: User,
    auth_headers: AuthHeaders,
    method: str,
) -> None:
    headers = await auth_headers(admin)
    assert (await client.get("/api/v1/me", headers=headers)).json()["role"] == "admin"
    # Another process demotes the admin: this one still has them cached as an admin.
    await UserService.for_system(session).update(admin.id, UserUpdate(role=Role.STANDARD))
    requests = {
        "POST": ("/api/v1/users", {"email": "new@example.com", "role": "admin"}),
        "PATCH": (f"/api/v1/users/{alice.id}", {"role": "admin"}),
        "DELETE": (f"/api/v1/users/{alice.id}", None),
    }
    path, body = requests[method]
    response = await client.request(method, path, headers=headers, json=body)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "admin_required"
