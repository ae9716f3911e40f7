"""Drive one job from queued to a terminal state, persisting every step before acting on it.

The order is what makes a crash harmless:
1. the job row exists (state ``queued``) before any paid call;
2. ``queued → submitting`` is written *before* the submit, so a crash during the submit is visible;
3. the operation name is written (``running``) before the first poll;
4. results are verified before ``succeeded``.
A job found in ``submitting`` after a crash is never submitted again: the provider may have accepted it,
so it goes to ``needs_attention`` and the user decides (``veokit jobs retry|abandon``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from veokit import errors as E
from veokit.engine.download import download
from veokit.media.probe import CorruptMediaError, Expectation, verify_mp4
from veokit.models.catalog import Catalog, Offer
from veokit.models.job import Job, JobState, VideoResult, new_job_id, utcnow
from veokit.models.request import GenerateRequest
from veokit.providers.base import OperationStatus, OpState, Provider
from veokit.resilience.clock import Clock, SystemClock
from veokit.resilience.polling import PollPolicy, expected_remaining, next_poll_delay
from veokit.store.base import JobStore

S = JobState


@dataclass(frozen=True)
class Progress:
    job_id: str
    state: str
    elapsed_s: float
    expected_remaining_s: float | None
    polls: int
    message: str = ""


ProgressFn = Callable[[Progress], None]


def catalog_provider(provider: str) -> str:
    """The catalog rows a provider sells: the emulator speaks the Vertex protocol and models."""
    return "vertex" if provider == "emulator" else provider


def _slug(text: str, n: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:n].rstrip("-") or "video"


class Engine:
    def __init__(self, *, store: JobStore, catalog: Catalog, provider_for: Callable[[str], Provider],
                 download_client: httpx.AsyncClient, clock: Clock | None = None, poll_scale: float = 1.0,
                 deadline_s: float | None = None, allow_retired: bool = False) -> None:
        self.store = store
        self.catalog = catalog
        self.provider_for = provider_for
        self.download_client = download_client
        self.clock = clock or SystemClock()
        self.poll_scale = poll_scale
        self.deadline_s = deadline_s
        self.allow_retired = allow_retired

    # -- enqueue --------------------------------------------------------------------------------------------
    def validate(self, request: GenerateRequest, provider: str) -> Offer:
        return self.catalog.validate(request, catalog_provider(provider), allow_retired=self.allow_retired)

    async def enqueue(self, request: GenerateRequest, provider: str, out_dir: Path, *,
                      client_key: str | None = None) -> Job:
        offer = self.validate(request, provider)
        estimate = self.catalog.estimate(request, offer)
        now = utcnow()
        job_id = new_job_id()
        job = Job(id=job_id, state=S.QUEUED, provider=provider, model=offer.model,
                  request=request.model_dump(mode="json"), fingerprint=request.fingerprint(),
                  idempotency_key=f"veokit-{job_id}", client_key=client_key,
                  out_dir=os.path.abspath(out_dir),  # noqa: ASYNC240 - string work, no I/O
                  estimate_usd=estimate.total_usd,
                  created_at=now, updated_at=now)
        return await self.store.create(job, message=f"queued; estimate {estimate.describe()}")

    # -- run ------------------------------------------------------------------------------------------------
    async def run(self, job_id: str, on_progress: ProgressFn | None = None) -> Job:
        """Advance the job as far as it can go; return it in its final (or attention-needing) state."""
        job = await self.store.get(job_id)
        notify = on_progress or (lambda p: None)
        if job.state is S.QUEUED:
            job = await self._submit(job)
        elif job.state is S.SUBMITTING:
            why = ("found mid-submit after an interruption; the provider may have accepted it, so veokit will "
                   f"not resubmit on its own. Run `veokit jobs retry {job.id}` to submit again (may pay twice) "
                   f"or `veokit jobs abandon {job.id}`")
            job = await self.store.transition(job.id, expect=S.SUBMITTING, to=S.NEEDS_ATTENTION, message=why,
                                              error=E.SubmitOutcomeUnknown(why, provider=job.provider).to_dict())
        if job.state in (S.RUNNING, S.DOWNLOADING):
            job = await self._poll_and_finish(job, notify)
        return job

    async def _submit(self, job: Job) -> Job:
        request = GenerateRequest.model_validate(job.request)
        provider = self.provider_for(job.provider)
        job = await self.store.transition(job.id, expect=S.QUEUED, to=S.SUBMITTING, attempts=job.attempts + 1,
                                          message=f"submitting to {job.provider}")
        try:
            name = await provider.submit(request)
        except E.SubmitOutcomeUnknown as exc:
            why = (f"{exc.message}. Check the provider console, then `veokit jobs retry {job.id}` or "
                   f"`veokit jobs abandon {job.id}`")
            await self.store.transition(job.id, expect=S.SUBMITTING, to=S.NEEDS_ATTENTION, message=why,
                                        error={**exc.to_dict(), "message": why})
            raise E.SubmitOutcomeUnknown(why, provider=exc.provider) from None
        except E.NetworkError as exc:  # nothing reached the provider: safe to try again later
            await self.store.transition(job.id, expect=S.SUBMITTING, to=S.QUEUED, error=exc.to_dict(),
                                        message=f"not sent: {exc.message}")
            raise
        except E.VeokitError as exc:
            await self.store.transition(job.id, expect=S.SUBMITTING, to=S.FAILED, error=exc.to_dict(),
                                        cost_usd=0.0, message=exc.message)
            raise
        return await self.store.transition(job.id, expect=S.SUBMITTING, to=S.RUNNING, operation_name=name,
                                           submitted_at=utcnow(), error=None, message=f"operation {name}")

    def _policy(self, job: Job) -> PollPolicy:
        offer = self.catalog.find(catalog_provider(job.provider), job.model)
        latency = offer.latency_s if offer else (11.0, 60.0, 360.0)
        return PollPolicy.for_latency(latency, deadline_s=self.deadline_s, scale=self.poll_scale)

    async def _poll_and_finish(self, job: Job, notify: ProgressFn) -> Job:
        provider = self.provider_for(job.provider)
        assert job.operation_name is not None
        policy = self._policy(job)
        out_dir = Path(job.out_dir)
        submitted = job.submitted_at or job.created_at
        # Time already spent before a resume counts toward the schedule (wall clock, not the injected one).
        start = self.clock.monotonic() - max(0.0, (utcnow() - submitted).total_seconds())
        polls = 0
        transient = 0
        while True:
            elapsed = self.clock.monotonic() - start
            if polls == 0 and job.state is S.DOWNLOADING:
                delay = 0.0  # results were ready before the interruption; fetch fresh references now
            else:
                delay = next_poll_delay(policy, polls_done=polls, elapsed_s=elapsed)
            notify(Progress(job.id, job.state.value, elapsed, expected_remaining(policy, elapsed), polls))
            if elapsed >= policy.deadline_s:
                return await self._deadline(job, elapsed)
            await self.clock.sleep(delay)
            try:
                status = await provider.poll(job.operation_name, spool_dir=out_dir)
            except E.VeokitError as exc:
                if not exc.retryable:
                    raise
                transient += 1  # a failed poll costs nothing and changes nothing: keep the job, poll again
                polls += 1
                continue
            polls += 1
            if status.state is OpState.RUNNING:
                continue
            return await self._finish(job, status, notify, polls, self.clock.monotonic() - start)

    async def _deadline(self, job: Job, elapsed: float) -> Job:
        return await self.store.transition(
            job.id, expect=job.state, to=S.NEEDS_ATTENTION,
            error=E.DeadlineExceeded(f"still running after {elapsed:.0f} s", provider=job.provider).to_dict(),
            message=f"still running after {elapsed:.0f} s (deadline). `veokit resume {job.id}` keeps waiting; "
                    f"`veokit jobs abandon {job.id}` gives up")

    async def _finish(self, job: Job, status: OperationStatus, notify: ProgressFn, polls: int,
                      elapsed: float) -> Job:
        if status.state is OpState.FILTERED:
            assert status.error is not None
            return await self.store.transition(job.id, expect=job.state, to=S.FILTERED, cost_usd=0.0,
                                               error=status.error.to_dict(), message=status.error.message)
        if status.state is OpState.FAILED:
            assert status.error is not None
            return await self.store.transition(job.id, expect=job.state, to=S.FAILED, cost_usd=0.0,
                                               error=status.error.to_dict(), message=status.error.message)
        if job.state is S.RUNNING:
            job = await self.store.transition(job.id, expect=S.RUNNING, to=S.DOWNLOADING,
                                              message=f"{len(status.videos)} video(s) ready")
        notify(Progress(job.id, job.state.value, elapsed, 0.0, polls, "downloading"))
        results = await self._download_all(job, status)
        request = GenerateRequest.model_validate(job.request)
        offer = self.catalog.find(catalog_provider(job.provider), job.model)
        rate = offer.rate(request.resolution, offer.audio_on(request)) if offer else 0.0
        cost = round(rate * request.duration_seconds * len(results), 4)
        job = await self.store.transition(job.id, expect=S.DOWNLOADING, to=S.SUCCEEDED, results=results,
                                          cost_usd=cost, error=None,
                                          message=f"saved {len(results)} video(s); cost ${cost:.2f}")
        notify(Progress(job.id, job.state.value, elapsed, 0.0, polls, "done"))
        return job

    async def _download_all(self, job: Job, status: OperationStatus) -> list[VideoResult]:
        request = GenerateRequest.model_validate(job.request)
        offer = self.catalog.find(catalog_provider(job.provider), job.model)
        provider = self.provider_for(job.provider)
        width, height = self.catalog.dims(request.resolution, request.aspect_ratio)
        expect = Expectation(width=width, height=height,
                             duration_s=None if request.video is not None else float(request.duration_seconds),
                             audio=offer.audio_on(request) if offer else None)
        out_dir = Path(job.out_dir)
        stem = f"{_slug(request.prompt)}-{job.id[-8:]}"
        results: list[VideoResult] = []
        try:
            for video in status.videos:
                suffix = f"-{video.index + 1}" if len(status.videos) > 1 else ""
                dest = out_dir / f"{stem}{suffix}.mp4"
                if video.inline_path is not None:
                    os.replace(video.inline_path, dest)  # spooled beside the target: an atomic rename
                    sha, size = str(video.inline_sha256), int(video.inline_size or 0)
                else:
                    target = await provider.download_target(video)
                    got = await download(self.download_client, target, dest, provider=job.provider)
                    sha, size = got.sha256, got.size
                try:
                    probe = verify_mp4(dest, expect)
                except CorruptMediaError as exc:
                    dest.unlink(missing_ok=True)
                    raise E.CorruptVideo(f"{job.provider}: downloaded video is not valid: {exc}",
                                         provider=job.provider) from None
                results.append(VideoResult(
                    index=video.index, path=str(dest), sha256=sha, size_bytes=size, width=probe.width,
                    height=probe.height, duration_s=probe.duration_s, fps=probe.fps, video_codec=probe.video_codec,
                    audio_codec=probe.audio_codec, remote_uri=video.uri))
        except E.VeokitError as exc:
            for v in status.videos:  # spooled inline files we did not get to
                if v.inline_path is not None:
                    v.inline_path.unlink(missing_ok=True)
            await self.store.transition(job.id, expect=S.DOWNLOADING, to=S.DOWNLOADING, error=exc.to_dict(),
                                        message=f"download failed: {exc.message}; `veokit resume {job.id}` retries")
            raise
        return results

