"""A blocking facade over :class:`~veokit.service.client.VeoClient` for scripts and notebooks.

with SyncVeoClient() as veo:
    job = veo.generate(GenerateRequest(prompt="a lighthouse at dusk"), provider="emulator")
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from veokit.config import Settings
from veokit.models.catalog import Estimate
from veokit.models.job import Job
from veokit.models.request import GenerateRequest
from veokit.service.client import VeoClient
from veokit.service.planning import Plan

T = TypeVar("T")


class SyncVeoClient:
    """:class:`VeoClient`'s methods, blocking, on a private event loop."""

    def __init__(self, settings: Settings | None = None, **kw: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = VeoClient(settings, **kw)
        self._run(self._client.start())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coro)

    def __enter__(self) -> SyncVeoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._loop.is_closed():
            self._run(self._client.aclose())
            self._loop.close()

    def plan(self, request: GenerateRequest, provider: str | None = None, **kw: Any) -> Plan:
        return self._client.plan(request, provider, **kw)

    def estimate(self, request: GenerateRequest, provider: str | None = None) -> Estimate:
        return self._client.estimate(request, provider)

    def generate(self, request: GenerateRequest | Plan, **kw: Any) -> Job:
        return self._run(self._client.generate(request, **kw))

    def submit(self, request: GenerateRequest | Plan, **kw: Any) -> Job:
        return self._run(self._client.submit(request, **kw))

    def wait(self, job_id: str, **kw: Any) -> Job:
        return self._run(self._client.wait(job_id, **kw))

    def resume(self, job_id: str | None = None, **kw: Any) -> list[Job]:
        return self._run(self._client.resume(job_id, **kw))

    def get_job(self, job_id: str) -> Job:
        return self._run(self._client.get_job(job_id))

    def list_jobs(self, **kw: Any) -> list[Job]:
        return self._run(self._client.list_jobs(**kw))
