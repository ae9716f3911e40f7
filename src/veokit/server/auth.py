"""``Authorization: Bearer <key>``: which key a request is made with, or 401.

The key is compared by its SHA-256 in the store, never logged; the access log names the key's *name*
(``request.state.key_name``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from veokit.server.errors import ApiError
from veokit.server.state import service
from veokit.service import ApiKey

bearer = HTTPBearer(auto_error=False, description="An API key made with `veokit keys create NAME`.")


async def current_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> ApiKey:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            401,
            "Missing API key: send `Authorization: Bearer <key>` (make one with `veokit keys create NAME`).",
            code="missing_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = await service(request).client.tenants.authenticate(credentials.credentials)
    if key is None:
        raise ApiError(
            401, "Incorrect or revoked API key.", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.key_name = key.name
    return key


Key = Annotated[ApiKey, Depends(current_key)]


async def optional_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> ApiKey | None:
    """The key when one is sent (and then it must be right); None when the route accepts a signed link."""
    if credentials is None:
        return None
    return await current_key(request, credentials)


OptionalKey = Annotated[ApiKey | None, Depends(optional_key)]
