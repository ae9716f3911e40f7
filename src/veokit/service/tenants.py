"""The HTTP service's tenants, as the service layer offers them: API keys, the videos a key owns, its day.

``veo.tenants`` (a :class:`Tenants`, once the client is started) is what ``veokit keys`` and the HTTP routes
call. Every video call takes the key it is made for, so a key never reaches another key's videos: another
key's video and a missing one are the same :class:`~veokit.errors.JobNotFound`.

Secrets: an API key is shown once, when created, and stored as its SHA-256. Each key's webhook signing secret
is derived from the service's own secret (``VEOKIT_SERVER_SECRET``, else a random one kept in
``<data dir>/server-secret``, readable by its owner only), so neither is ever in the database; the same
service secret gives the same webhook secrets on every server sharing a store.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import datetime as dt
import hashlib
import hmac
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from veokit import errors as E
from veokit.config import Settings
from veokit.models.job import Job, new_job_id, utcnow
from veokit.store.base import JobStore
from veokit.store.tenancy import (
    ApiKey,
    KeyLimits,
    KeyUsage,
    Ownership,
    WebhookDue,
    check_name,
    hash_secret,
    new_key_id,
    new_secret,
)

if TYPE_CHECKING:
    from veokit.engine.runner import Engine
    from veokit.service.planning import Plan

SECRET_FILE = "server-secret"  # noqa: S105 - a file name, not a secret
API_DIR = "api"  # under the out dir: <out>/api/<key id>/<job id>/ holds a video and its previews


@dataclass(frozen=True)
class NewKey:
    """A key just made: ``secret`` is shown to its owner once and never again."""

    key: ApiKey
    secret: str
    webhook_secret: str | None


class Tenants:
    def __init__(self, store: JobStore, engine: Engine, settings: Settings) -> None:
        self._store = store
        self._engine = engine
        self.settings = settings
        self._secret: bytes | None = None

    # -- keys -----------------------------------------------------------------------------------------------
    async def create_key(
        self,
        name: str,
        *,
        budget_daily_usd: float | None = None,
        max_in_flight: int | None = None,
        webhook_url: str | None = None,
    ) -> NewKey:
        if budget_daily_usd is not None and not budget_daily_usd >= 0:
            raise E.InvalidRequest("budget_daily_usd: must be >= 0 (USD)", field="budget_daily_usd")
        if max_in_flight is not None and max_in_flight < 1:
            raise E.InvalidRequest("max_in_flight: must be >= 1", field="max_in_flight")
        if webhook_url is not None:
            parts = urlsplit(webhook_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise E.InvalidRequest(
                    f"webhook: {webhook_url!r} is not an http(s) URL", field="webhook", allowed=["https://…"]
                )
        secret = new_secret()
        key = ApiKey(
            id=new_key_id(),
            name=check_name(name),
            key_hash=hash_secret(secret),
            key_prefix=secret[:8],
            created_at=utcnow(),
            budget_daily_usd=budget_daily_usd,
            max_in_flight=max_in_flight,
            webhook_url=webhook_url,
        )
        stored = await self._store.add_key(key)
        return NewKey(stored, secret, self.webhook_secret(stored) if webhook_url else None)

    async def list_keys(self) -> builtins.list[ApiKey]:
        return await self._store.list_keys()

    async def revoke_key(self, name: str) -> ApiKey:
        return await self._store.revoke_key(name)

    async def key_named(self, name: str) -> ApiKey:
        found = next((k for k in await self._store.list_keys() if k.name == name), None)
        if found is None:
            raise E.KeyNameError(f"name: there is no key named {name!r}", field="name")
        return found

    async def authenticate(self, secret: str) -> ApiKey | None:
        """The live key this secret belongs to (compared by hash: the store never sees the secret)."""
        if not secret or len(secret) > 200:
            return None
        return await self._store.key_by_hash(hash_secret(secret))

    def webhook_secret(self, key: ApiKey) -> str:
        """``whsec_…``: the Standard Webhooks secret the key's receiver verifies signatures with."""
        digest = hmac.new(self._service_secret(), f"webhook:{key.id}".encode(), hashlib.sha256).digest()
        return "whsec_" + base64.b64encode(digest).decode()

    def sign(self, text: str) -> str:
        """A signature of ``text`` by the service (for links that work without a key, e.g. a video's URL)."""
        digest = hmac.new(self._service_secret(), f"link:{text}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode()

    def _service_secret(self) -> bytes:
        if self._secret is None:
            self._secret = self._read_service_secret()
        return self._secret

    def _read_service_secret(self) -> bytes:
        if self.settings.server_secret is not None:
            return self.settings.server_secret.get_secret_value().encode()
        path = Path(self.settings.data_dir) / SECRET_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it first: read theirs
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        text = path.read_text().strip()
        if len(text) < 32:
            raise E.ConfigError(f"server secret: {path} is empty or damaged; delete it (webhook secrets change)")
        return text.encode()

    def limits(self, key: ApiKey) -> KeyLimits:
        s = self.settings
        return KeyLimits(
            daily_usd=key.budget_daily_usd if key.budget_daily_usd is not None else s.server_key_budget_daily_usd,
            max_in_flight=key.max_in_flight if key.max_in_flight is not None else s.server_key_max_in_flight,
        )

    # -- a key's videos -------------------------------------------------------------------------------------
    async def submit(
        self,
        key: ApiKey,
        plan: Plan,
        *,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        note: str = "",
        client_key: str | None = None,
    ) -> Job:
        """Record a planned job as the key's, after its limits, atomically (see
        :meth:`~veokit.store.base.JobStore.create_owned`). The same ``idempotency_key`` and ``request_hash``
        return the job first made; another hash is :class:`~veokit.errors.IdempotencyConflict`.
        Identical seeded requests are not answered with an earlier video here: that video may be another key's.
        ``client_key`` also names the job for :meth:`VeoClient.jobs_by_key` (a film's take; it must name the key).
        """
        job_id = new_job_id()
        owner = Ownership(
            key.id, key.name, idempotency_key, request_hash if idempotency_key else None, key.webhook_url is not None
        )
        return await self._engine.enqueue(
            plan.request,
            plan.provider,
            Path(self.settings.out_dir) / API_DIR / key.id / job_id,
            note=note or f"for key {key.name}",
            client_key=client_key,
            owner=owner,
            limits=self.limits(key),
            job_id=job_id,
            fresh=True,  # nor does it wait for another key's identical job in flight
        )

    async def get(self, key: ApiKey, job_id: str) -> Job:
        return await self._store.get_owned(key.id, job_id)

    async def get_for(self, key_id: str, job_id: str) -> Job:
        """As :meth:`get`, by the key's id (a signed link names it; the signature proves it was given out)."""
        return await self._store.get_owned(key_id, job_id)

    async def list(
        self, key: ApiKey, *, after: str | None = None, limit: int = 20, ascending: bool = False
    ) -> builtins.list[Job]:
        return await self._store.list_owned(key.id, after=after, limit=limit, ascending=ascending)

    async def delete(self, key: ApiKey, job_id: str) -> Job:
        """Delete a finished video and its files (its job record and cost stay, for the operator). An
        unfinished one must be cancelled first: its files are still to come."""
        job = await self._store.get_owned(key.id, job_id)
        if not job.state.terminal:
            raise E.JobStateError(
                f"job {job.id} is {job.state.value}; cancel it first (only a finished video can be deleted)"
            )
        job = await self._store.delete_owned(key.id, job_id)
        await asyncio.to_thread(_remove_files, job, key, Path(self.settings.out_dir))
        return job

    async def usage(self, key: ApiKey) -> KeyUsage:
        return await self._store.key_usage(key.id)

    # -- webhooks -------------------------------------------------------------------------------------------
    async def due_webhooks(self, *, lease_s: float, limit: int = 50) -> builtins.list[WebhookDue]:
        return await self._store.due_webhooks(lease_s=lease_s, limit=limit)

    async def webhook_result(
        self, job_id: str, *, delivered: bool, error: str | None = None, retry_at: dt.datetime | None = None
    ) -> None:
        await self._store.webhook_result(job_id, delivered=delivered, error=error, retry_at=retry_at)


def _remove_files(job: Job, key: ApiKey, out_dir: Path) -> None:
    """The job's own directory (its video and previews): every video made through the service has one. Files
    anywhere else may be shared with other jobs (a reused video is a hard link), so they are left alone."""
    folder = Path(job.out_dir)
    own = (Path(os.path.abspath(out_dir)) / API_DIR / key.id / job.id).resolve()
    if folder.resolve() == own:
        shutil.rmtree(folder, ignore_errors=True)
