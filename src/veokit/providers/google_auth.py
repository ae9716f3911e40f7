"""Credentials for Google endpoints, as request headers. Secrets stay in memory, never in URLs or logs."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from veokit.errors import AuthenticationError, ConfigError

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


class HeaderAuth(Protocol):
    secret_headers: frozenset[str]

    async def headers(self) -> dict[str, str]: ...

    def secrets(self) -> tuple[str | None, ...]: ...


class ApiKeyAuth:
    secret_headers = frozenset({"x-goog-api-key"})

    def __init__(self, key: str) -> None:
        self._key = key

    async def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key}

    def secrets(self) -> tuple[str | None, ...]:
        return (self._key,)

    def __repr__(self) -> str:
        return "ApiKeyAuth(***)"


class GoogleCredentialsAuth:
    """google-auth credentials (service account, gcloud user, metadata server), refreshed when stale."""

    secret_headers = frozenset({"authorization"})

    def __init__(self, credentials: Any, *, quota_project: str | None = None) -> None:
        self.credentials = credentials
        self.quota_project = quota_project or getattr(credentials, "quota_project_id", None)
        self._lock = asyncio.Lock()

    async def headers(self) -> dict[str, str]:
        async with self._lock:
            if not self.credentials.valid:
                await asyncio.to_thread(self._refresh)
        out = {"Authorization": f"Bearer {self.credentials.token}"}
        if self.quota_project:
            out["x-goog-user-project"] = self.quota_project
        return out

    def _refresh(self) -> None:
        import google.auth.exceptions
        import google.auth.transport.requests

        try:
            self.credentials.refresh(google.auth.transport.requests.Request())
        except google.auth.exceptions.GoogleAuthError as exc:
            raise AuthenticationError(
                f"vertex: could not obtain an access token: {type(exc).__name__}: {str(exc)[:200]}", provider="vertex"
            ) from None

    def secrets(self) -> tuple[str | None, ...]:
        return (getattr(self.credentials, "token", None),)


def static_token_credentials(token: str) -> Any:
    """Credentials for a fixed access token (e.g. `gcloud auth print-access-token`); cannot refresh."""
    from google.oauth2.credentials import Credentials

    return Credentials(token=token)  # type: ignore[no-untyped-call]


def application_default(project: str | None) -> tuple[Any, str | None]:
    """ADC: GOOGLE_APPLICATION_CREDENTIALS, gcloud user credentials, then the metadata server."""
    import google.auth
    import google.auth.exceptions

    try:
        creds, adc_project = google.auth.default(scopes=[CLOUD_PLATFORM], quota_project_id=None)
    except google.auth.exceptions.DefaultCredentialsError:
        raise ConfigError(
            "vertex: no Google credentials found. Set GOOGLE_APPLICATION_CREDENTIALS to a service-account "
            "file, run `gcloud auth application-default login`, or use express mode with VEOKIT_VERTEX_API_KEY"
        ) from None
    return creds, project or adc_project
