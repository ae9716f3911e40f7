"""Running jobs in the background: one event loop on its own thread, owning the VeoClient.

For surfaces whose calls are short but whose jobs are long: agent tools, and an HTTP service. Strands runs
each synchronous agent call on a fresh event loop that is closed when the call returns, and an MCP or HTTP
server runs handlers on its loop; a job started by one call must keep running after that call has returned,
and the client's connections (HTTP pool, database) must stay on one loop. So every job runs here, and
callers reach this loop through :meth:`JobRuntime.call`, from whatever loop they are on.

Jobs also live in the store, so a job started by another process (or by this one before a restart) is
visible to ``get_job``; only jobs started here report live progress, the others are followed through the store.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from veokit import errors as E
from veokit.engine.runner import Progress
from veokit.models.job import Job
from veokit.service.client import VeoClient
from veokit.service.planning import Plan

T = TypeVar("T")
log = logging.getLogger("veokit.runtime")


@dataclass
class LiveJob:
    """A job being driven on the runtime loop; touched only from that loop."""

    task: asyncio.Task[None] | None = None
    progress: Progress | None = None
    seq: int = 0
    error: str | None = None
    done: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def bump(self) -> None:
        # Waiters hold the event they saw; setting it wakes them, and later waiters get a fresh one.
        self.seq += 1
        self.changed.set()
        self.changed = asyncio.Event()


@dataclass(frozen=True)
class Watch:
    """One look at a job: its stored record plus what this process's runner knows."""

    job: Job
    running_here: bool
    seq: int
    progress: Progress | None
    runner_error: str | None


class JobRuntime:
    """Runs jobs on a private event loop thread that lives until :meth:`close` (or interpreter exit)."""

    def __init__(self, client: VeoClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._client_started = False
        self._start_lock = asyncio.Lock()  # binds to the runtime loop on first use (Python >= 3.10)
        self._live: dict[str, LiveJob] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # -- the loop -------------------------------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise E.VeokitError("the job runtime is closed")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=serve, name="veokit-jobs", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
                # Unfinished jobs stay in the store (resumable) even if the process ends without close().
                atexit.register(self.close)
            return self._loop

    async def call(self, fn: Callable[[VeoClient], Awaitable[T]]) -> T:
        """Run ``fn(client)`` on the runtime loop (starting the client once) and await it from any loop."""
        loop = self._ensure_loop()

        async def on_loop() -> T:
            await self._start_client()
            return await fn(self.client)

        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            return await on_loop()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(on_loop(), loop))

    async def _start_client(self) -> None:
        # Started on first use, on this loop, so its connections belong here; a failed start is retried
        # by the next call (a database that was down may be back).
        if self._client_started:
            return
        async with self._start_lock:
            if not self._client_started:
                await self.client.start()
                self._client_started = True

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop runners (their jobs stay in the store, resumable) and release the client. Idempotent."""
        with self._lock:
            loop, thread, self._loop, self._closed = self._loop, self._thread, None, True
        atexit.unregister(self.close)
        if loop is None or thread is None:
            return
        if threading.current_thread() is thread:
            raise RuntimeError("JobRuntime.close() called from its own loop")
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout_s)
        except Exception as exc:  # closing must not mask the caller's own outcome
            log.warning("closing the video runtime: %s", E.redact(str(exc)) or type(exc).__name__)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        if not thread.is_alive():
            loop.close()

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Stop ``task`` (one started on the runtime loop, e.g. a film's render) with the runtime; its jobs stay
        in the store, resumable."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _shutdown(self) -> None:
        tasks = [j.task for j in self._live.values() if j.task is not None and not j.task.done()]
        tasks += [t for t in self._background if not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client_started:
            await self.client.aclose()

    # -- jobs (these run on the runtime loop, via call) ------------------------------------------------------
    def unfinished_here(self) -> list[str]:
        return [job_id for job_id, j in list(self._live.items()) if not j.done]

    async def submit(self, plan: Plan, submit_wait_s: float) -> Watch:
        """Record the planned job, start its runner, and return once the paid submit has been answered
        (or ``submit_wait_s`` passed), so a rejected request is reported by the call that made it."""

        async def go(client: VeoClient) -> Watch:
            job = await client.submit(plan)
            self._start(client, job.id, resume=False)
            return await self._settle(client, job.id, submit_wait_s)

        return await self.call(go)

    async def start(self, job_id: str, *, resume: bool, settle_s: float = 0.0) -> Watch:
        """Drive a recorded job here (``client.wait``, or ``client.resume`` for one needing attention).
        Both run it under the store's lease, so a job another live process holds is followed, not run twice."""

        async def go(client: VeoClient) -> Watch:
            self._start(client, job_id, resume=resume)
            return await self._settle(client, job_id, settle_s)

        return await self.call(go)

    def _start(self, client: VeoClient, job_id: str, *, resume: bool) -> None:
        live = self._live.get(job_id)
        if live is not None and not live.done:
            return  # already being driven here: never run one job twice
        live = self._live[job_id] = LiveJob()

        def on_progress(p: Progress) -> None:
            live.progress = p
            live.bump()

        async def run() -> None:
            try:
                if resume:
                    await client.resume(job_id, on_progress=on_progress)
                else:
                    await client.wait(job_id, on_progress=on_progress)
            except E.VeokitError as exc:  # the job row records the outcome; keep the line for status calls
                live.error = exc.message
            except Exception as exc:
                live.error = f"internal error ({type(exc).__name__})"
                log.exception("video job %s: runner failed", job_id)
            finally:
                live.done = True
                live.bump()

        live.task = asyncio.get_running_loop().create_task(run(), name=f"veokit-job-{job_id}")

    async def _settle(self, client: VeoClient, job_id: str, limit_s: float) -> Watch:
        """The job once its runner has news (the submit was answered, polling began, or it ended), or after
        ``limit_s``."""
        clock = client.clock
        deadline = clock.monotonic() + limit_s
        live = self._live[job_id]
        while live.seq == 0 and not live.done and (remaining := deadline - clock.monotonic()) > 0:
            await clock.wait(live.changed, remaining)
        return self._look(await client.get_job(job_id), live)

    @staticmethod
    def _look(job: Job, live: LiveJob | None) -> Watch:
        if live is None:
            return Watch(job, False, 0, None, None)
        return Watch(job, not live.done, live.seq, live.progress, live.error)

    async def watch(self, job_id: str, seq: int, wait_s: float) -> Watch:
        """The job's state, after waiting up to ``wait_s`` for news if a runner here is driving it."""

        async def go(client: VeoClient) -> Watch:
            live = self._live.get(job_id)
            if live is not None and not live.done and live.seq == seq and wait_s > 0:
                await client.clock.wait(live.changed, wait_s)
            return self._look(await client.get_job(job_id), live)

        return await self.call(go)
