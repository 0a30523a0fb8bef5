"""Users: the caller (`/me`) and user management (`/users`, admins manage, everyone reads self)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.api.dependencies import AuthContext, CallerCacheDep, CurrentUser, SessionDep
from app.api.exceptions import NotAuthenticated, problem_responses
from app.api.pagination import ListQuery, sort_field
from app.domains.base.exceptions import Conflict, NotFound, PermissionDenied
from app.domains.base.schemas import Page
from app.domains.users.models import User
from app.domains.users.repository import UserRepository
from app.domains.users.schemas import UserCreate, UserFilters, UserRead, UserUpdate
from app.domains.users.service import UserService

router = APIRouter(tags=["users"])


async def get_user_service(session: SessionDep, context: AuthContext) -> UserService:
    return UserService.for_user(session, context)


UserServiceDep = Annotated[UserService, Depends(get_user_service)]


class UserListQuery(UserFilters, ListQuery):
    """Filters, sort and pagination of `GET /users`."""

    sort: str | None = sort_field(UserRepository.sort_options())


@router.get("/me", responses=problem_responses(NotAuthenticated))
async def read_me(user: CurrentUser) -> UserRead:
    """The authenticated user."""
    return user


@router.get("/users", responses=problem_responses(NotAuthenticated, PermissionDenied))
async def list_users(
    service: UserServiceDep, query: Annotated[UserListQuery, Query()]
) -> Page[UserRead]:
    """Users in the caller's scope: everyone for admins, only themself for standard users."""
    users, total = await service.list_page(
        query, sort=query.sort_params(), page=query.page_params()
    )
    return Page(
        items=[UserRead.model_validate(user) for user in users],
        total=total,
        page=query.page,
        size=query.size,
    )


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(NotAuthenticated, PermissionDenied, Conflict, body=True),
)
async def create_user(data: UserCreate, service: UserServiceDep) -> UserRead:
    """Create a user (admins only)."""
    return UserRead.model_validate(await service.create(data))


@router.get("/users/{user_id}", responses=problem_responses(NotAuthenticated, NotFound))
async def read_user(user_id: uuid.UUID, service: UserServiceDep) -> UserRead:
    """One user, if it is in the caller's scope."""
    return UserRead.model_validate(await service.get(user_id))


@router.patch(
    "/users/{user_id}",
    responses=problem_responses(NotAuthenticated, NotFound, PermissionDenied, Conflict, body=True),
)
async def update_user(
    user_id: uuid.UUID,
    data: UserUpdate,
    service: UserServiceDep,
    session: SessionDep,
    callers: CallerCacheDep,
) -> UserRead:
    """Change a user's e-mail or role (admins only; nobody changes their own role)."""
    user: User = await service.update(user_id, data)
    callers.forget_user(user_id, changed_in=session)
    return UserRead.model_validate(user)


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(NotAuthenticated, NotFound, PermissionDenied),
)
async def delete_user(
    user_id: uuid.UUID, service: UserServiceDep, session: SessionDep, callers: CallerCacheDep
) -> Response:
    """Delete a user and their credentials (admins only; not themself)."""
    await service.delete(user_id)
    callers.forget_user(user_id, changed_in=session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
