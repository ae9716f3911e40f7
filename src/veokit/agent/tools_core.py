"""The one implementation of veokit's agent tools; Strands and MCP wrap these methods thinly.

Each tool is an ``async`` method returning a :data:`~veokit.agent.results.ToolResult` dict (``wait_for_video``
is an async generator: progress updates, then the result). Parameters are ``Annotated[type, "description"]``
and docstrings are written for a model: both become the tool descriptions the model reads, so they teach the
real constraints (aspect ratios, durations, what needs 8 s, what costs what).

Nothing here blocks an event loop for long or spends money before the request has been validated and priced.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from veokit import errors as E
from veokit.agent.film_tools import FilmTools
from veokit.agent.results import ToolResult, fail, failure_from, job_summary, job_view, ok, progress_view
from veokit.config import PROVIDERS, Settings, load_settings
from veokit.media.probe import probe_mp4
from veokit.models.catalog import Catalog, Estimate, default_catalog
from veokit.models.job import Job, JobState
from veokit.models.request import GenerateRequest, ImageInput
from veokit.service import JobRuntime, Plan, VeoClient, Watch, extension_request, file_roots
from veokit.service.file_roots import FileRoots
from veokit.service.providers import durable, specs

DEFAULT_WAIT_S = 120.0
MAX_WAIT_S = 600.0
SUBMIT_WAIT_S = 15.0  # how long generate_video waits for the provider to accept the submit before returning
READ_GRACE_S = 1.0  # a store read that overruns the wait timeout by more than this is abandoned
STORE_POLL_S = 1.0  # how often a job run by another process is re-read from the store
MAX_LIST = 50


@dataclass(frozen=True)
class Update:
    """A progress event from ``wait_for_video``; ``data`` is JSON-able."""

    percent: float
    message: str
    data: dict[str, Any]


def _models_help(catalog: Catalog, today: dt.date) -> str:
    """Live models with their per-second prices, from the catalog (the one place prices live)."""
    rows = []
    for o in catalog.offers:
        if o.lifecycle.is_retired(today):
            continue
        prices = ", ".join(f"{res} ${o.price[res].audio:.2f}/s" for res in o.resolutions if res in o.price)
        rows.append(f"{o.model} ({o.provider}, {o.title}: {prices})")
    return "; ".join(rows)


MODEL_HELP = "Model id; default: the configured model or the provider's default. Live models: " + _models_help(
    default_catalog(), dt.date.today()
)


def _providers_help() -> str:
    offline = [f"{s.name}: {s.title}, only when the user asks for it" for s in specs() if not s.real_money]
    return f"One of {', '.join(PROVIDERS)} ({'; '.join(offline)}); default: the configured provider"


def _options_help() -> str:
    """Every provider's own options, from the registry: a model can only use what it is told exists."""
    parts = [f"{s.name}: " + "; ".join(o.describe() for o in s.options) for s in specs() if s.options and s.real_money]
    return (
        'Provider-specific settings as {name: value}, e.g. {"enableTranslation": false}; only the provider\'s own '
        "options are accepted and an unknown one is an error naming those it takes. " + " | ".join(parts)
    )


PROVIDER_HELP = _providers_help()

Prompt = Annotated[
    str,
    "What the video shows: subject, action, setting, camera movement, lighting, style and "
    "sound; put spoken lines in quotes. Up to about 1,000 words.",
]
FirstFrame = Annotated[str | None, "Path of a PNG, JPEG or WebP image to start from (image-to-video)."]
LastFrame = Annotated[str | None, "Path of an image to end on (needs first_frame): the model interpolates."]
References = Annotated[
    list[str] | None,
    "Image paths of a subject, character or product to keep consistent (asset references): up to 3 "
    "(6 on Gemini Omni 1.2); Veo needs duration_seconds=8. Not combined with frames on Gemini Omni.",
]
Aspect = Annotated[
    str,
    "16:9 (landscape, default) or 9:16 (portrait: stories, Shorts, Reels, TikTok). "
    "1:1 and other ratios are not supported.",
]
Resolution = Annotated[
    str, "720p (default), 1080p or 4k; Gemini Omni also 360p (a cheap draft). On Veo 1080p and 4k need 8 s."
]
Duration = Annotated[
    int,
    "Length in seconds (default 8). Veo: 4, 6 or 8, and 8 for 1080p, 4k and reference images. Gemini Omni: "
    "3 to 15 on 1.2 (at most 10 with a last frame), 3 to 10 on 1.1.",
]
Negative = Annotated[
    str | None, "What must not appear, as plain words: e.g. 'text, captions, subtitles, watermark, logo, blurry'."
]
Seed = Annotated[int | None, "0 to 4294967295; the same seed and request give a similar video."]
Samples = Annotated[int, "Videos to generate from this request, 1 to 4 (default 1); each one is billed."]
NoAudio = Annotated[bool, "True for a silent video (cheaper on some models). Default: with sound."]
ModelId = Annotated[str | None, MODEL_HELP]
ProviderName = Annotated[str | None, PROVIDER_HELP]
Options = Annotated[dict[str, Any] | None, _options_help()]
JobId = Annotated[str, "The job id a previous tool returned (job_…)."]


class VideoToolkit(FilmTools):
    """veokit's video tools over one :class:`~veokit.service.client.VeoClient`.

    The toolkit owns the client and runs it on its own event-loop thread (see :mod:`veokit.service.runtime`),
    so jobs outlive the tool call that started them. Pass an *unstarted* client to choose its settings or
    store (``settings`` is used only when no client is given); close the toolkit (or use it as a context
    manager) to stop runners and release connections. Unfinished jobs stay in the store either way, and
    ``wait_for_video``/``resume_video`` (or ``veokit resume``) finish them. ``max_cost_usd`` refuses any
    single job estimated above it, before anything is sent.
    """

    TOOL_NAMES = (
        "generate_video",
        "estimate_cost",
        "wait_for_video",
        "video_status",
        "list_videos",
        "download_video",
        "extend_video",
        "resume_video",
        "cancel_video",
        "plan_film",
        "render_film",
        "film_status",
    )

    def __init__(
        self,
        client: VeoClient | None = None,
        *,
        settings: Settings | None = None,
        max_cost_usd: float | None = None,
        submit_wait_s: float = SUBMIT_WAIT_S,
        roots: FileRoots | None = None,
    ) -> None:
        if client is None:
            client = VeoClient(settings or load_settings())
        elif client.started:
            raise ValueError(
                "VideoToolkit needs an unstarted VeoClient: it starts the client on its own "
                "event loop so that jobs outlive each tool call"
            )
        self.client = client
        self.runtime = JobRuntime(client)
        self.max_cost_usd = max_cost_usd
        self.submit_wait_s = submit_wait_s
        # Where tools may read images and write videos (the MCP server always sets it); None: anywhere.
        self.roots = roots
        self._films = {}  # storyboard path -> its render, on the runtime loop

    @property
    def catalog(self) -> Catalog:
        return self.client.catalog

    def close(self) -> None:
        self.runtime.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.runtime.close)

    def __enter__(self) -> VideoToolkit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def description(self, name: str) -> str:
        """The tool description a model reads: the method's docstring."""
        return inspect.cleandoc(getattr(type(self), name).__doc__ or name)

    # -- helpers --------------------------------------------------------------------------------------------
    async def _build(
        self,
        *,
        prompt: str,
        first_frame: str | None,
        last_frame: str | None,
        reference_images: list[str] | None,
        aspect_ratio: str,
        resolution: str,
        duration_seconds: int,
        negative_prompt: str | None,
        seed: int | None,
        samples: int,
        no_audio: bool,
        model: str | None,
        provider: str | None,
        options: dict[str, Any] | None,
    ) -> Plan:
        """Read the images, then plan the request (validated, priced, within limits): no network, no spend."""
        if last_frame and not first_frame:
            raise E.InvalidRequest(
                "last_frame: needs first_frame (Veo interpolates from the first to the last)", field="last_frame"
            )

        roots = file_roots.current(self.roots)

        def read(path: str, field: str) -> ImageInput:
            return ImageInput.from_path(path if roots is None else roots.readable(path, field=field), field=field)

        def load() -> dict[str, Any]:  # file reads off the caller's loop
            return {
                "image": read(first_frame, "first_frame") if first_frame else None,
                "last_frame": read(last_frame, "last_frame") if last_frame else None,
                "reference_images": tuple(read(p, "reference_images") for p in reference_images or []),
            }

        images = await asyncio.to_thread(load)
        request = GenerateRequest.build(
            prompt=prompt,
            model=model,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            duration_seconds=duration_seconds,
            negative_prompt=negative_prompt or None,
            seed=seed,
            sample_count=samples,
            generate_audio=False if no_audio else None,
            options=options or {},
            **images,
        )
        return self._plan(request, provider)

    def _plan(self, request: GenerateRequest, provider: str | None) -> Plan:
        return self.client.plan(request, provider, max_cost_usd=self.max_cost_usd)

    async def _submitted(self, plan: Plan) -> ToolResult:
        return self._started_result(await self.runtime.submit(plan, self.submit_wait_s), plan.estimate)

    def _started_result(self, w: Watch, estimate: Estimate | None) -> ToolResult:
        job = w.job
        view = job_view(job, running_here=w.running_here)
        if estimate is not None:
            view["estimate"] = estimate.describe()
        failed = _failure(w, view)
        if failed is not None:
            return failed
        return ok(
            f"started job {job.id} ({job.state.value}; estimate "
            f"{estimate.describe() if estimate else f'${job.estimate_usd:.2f}'}); "
            f"call wait_for_video(job_id='{job.id}') next",
            view,
        )

    async def _job(self, job_id: str) -> Job:
        return await self.runtime.call(lambda c: c.get_job(job_id.strip()))

    # -- tools ----------------------------------------------------------------------------------------------
    async def generate_video(
        self,
        prompt: Prompt,
        first_frame: FirstFrame = None,
        last_frame: LastFrame = None,
        reference_images: References = None,
        aspect_ratio: Aspect = "16:9",
        resolution: Resolution = "720p",
        duration_seconds: Duration = 8,
        negative_prompt: Negative = None,
        seed: Seed = None,
        samples: Samples = 1,
        no_audio: NoAudio = False,
        model: ModelId = None,
        provider: ProviderName = None,
        options: Options = None,
    ) -> ToolResult:
        """Start generating a video with Google Veo; returns the job id at once while the video renders
        (30 s to a few minutes). Then call wait_for_video(job_id), again while it says the job is still
        running, then download_video. Never call generate_video again because a job is slow: every call is
        billed. The request is checked and priced before anything is sent, so an impossible request costs
        nothing and the error names the field and the allowed values.

        Good choices: 9:16 for stories, Shorts, Reels and TikTok, 16:9 otherwise (1:1 is not supported);
        durations are 4, 6 or 8 s, and 1080p, 4k and reference images need 8 s; 720p is the cheapest;
        put unwanted text, captions, watermarks or logos in negative_prompt; first_frame animates an image,
        last_frame adds an end frame; reference_images keep a subject consistent (image paths are read on the
        machine running veokit: absolute paths are safest). Cost = seconds x samples x the model's price per
        second (see estimate_cost; the model parameter lists prices).
        """
        try:
            plan = await self._build(
                prompt=prompt,
                first_frame=first_frame,
                last_frame=last_frame,
                reference_images=reference_images,
                aspect_ratio=aspect_ratio,
                resolution=resolution,
                duration_seconds=duration_seconds,
                negative_prompt=negative_prompt,
                seed=seed,
                samples=samples,
                no_audio=no_audio,
                model=model,
                provider=provider,
                options=options,
            )
            return await self._submitted(plan)
        except Exception as exc:
            return failure_from(exc)

    async def estimate_cost(
        self,
        prompt: Prompt,
        first_frame: FirstFrame = None,
        last_frame: LastFrame = None,
        reference_images: References = None,
        aspect_ratio: Aspect = "16:9",
        resolution: Resolution = "720p",
        duration_seconds: Duration = 8,
        negative_prompt: Negative = None,
        seed: Seed = None,
        samples: Samples = 1,
        no_audio: NoAudio = False,
        model: ModelId = None,
        provider: ProviderName = None,
        options: Options = None,
    ) -> ToolResult:
        """Check a video request and price it without sending anything (free). Takes the same arguments as
        generate_video; use it before an expensive request (1080p or 4k, several samples, the Standard
        model) and tell the user the price. An invalid request returns an error naming the field and the
        allowed values. Filtered or failed jobs are not charged.
        """
        try:
            plan = await self._build(
                prompt=prompt,
                first_frame=first_frame,
                last_frame=last_frame,
                reference_images=reference_images,
                aspect_ratio=aspect_ratio,
                resolution=resolution,
                duration_seconds=duration_seconds,
                negative_prompt=negative_prompt,
                seed=seed,
                samples=samples,
                no_audio=no_audio,
                model=model,
                provider=provider,
                options=options,
            )
        except Exception as exc:
            return failure_from(exc)
        request, est = plan.request, plan.estimate
        data = {
            "valid": True,
            "provider": plan.provider,
            "model": est.model,
            "total_usd": est.total_usd,
            "usd_per_second": est.rate_per_second,
            "seconds": est.seconds,
            "samples": est.samples,
            "audio": est.audio,
            "aspect_ratio": request.aspect_ratio,
            "resolution": request.resolution,
            "spent_usd": 0.0,
        }
        return ok(f"valid; it would cost {est.describe()}; nothing was sent", data)

    async def wait_for_video(
        self,
        job_id: JobId,
        timeout_s: Annotated[
            float,
            "Longest wait in seconds (default 120, at most 600). Returns then with the "
            "job still running; call again to keep waiting.",
        ] = DEFAULT_WAIT_S,
    ) -> AsyncIterator[Update | ToolResult]:
        """Wait for a video job to finish, reporting progress, for at most timeout_s seconds. Returns the
        finished job (saved MP4 paths, resolution, duration, cost) or, when the timeout comes first, the job's
        current state with finished=false: then call wait_for_video again (it never resubmits or pays
        again). A job started by another process or an earlier session is followed, and finished here if
        nothing else is working on it.
        """
        try:
            timeout = min(max(float(timeout_s), 0.0), MAX_WAIT_S)
        except (TypeError, ValueError):
            yield fail(f"timeout_s: {timeout_s!r} is not a number of seconds (0 to {MAX_WAIT_S:.0f})")
            return
        clock = self.client.clock
        deadline = clock.monotonic() + timeout
        seq, last_state = -1, ""
        last: tuple[Watch, Update] | None = None
        while True:
            remaining = deadline - clock.monotonic()
            wait = max(0.0, min(remaining, 10.0)) if last is not None else 0.0
            try:
                # Bounded even if the runtime loop is busy (e.g. probing a large download): never past the timeout.
                # A watchdog against the runtime's loop (another thread) being stuck, so it measures real time on
                # purpose (asyncio.wait_for, not the clock): whatever clock the jobs run on, the caller's is real.
                w = await asyncio.wait_for(self.runtime.watch(job_id.strip(), seq, wait), wait + READ_GRACE_S)
            except TimeoutError:
                if last is None:
                    yield fail(f"job {job_id}: the job store did not answer in time; call video_status later")
                else:
                    yield self._wait_result(*last, finished=False, timeout=timeout)
                return
            except Exception as exc:
                yield failure_from(exc)
                return
            if last is None and self._should_drive(w):
                # Nobody here drives it (started by another process or before a restart): drive it. The store's
                # lease makes that safe: a job another live process holds is only followed, never run twice.
                with contextlib.suppress(Exception):  # if it cannot start now, keep following the store
                    # The same watchdog as above: real time on purpose.
                    w = await asyncio.wait_for(self.runtime.start(w.job.id, resume=False), READ_GRACE_S)
            update = self._update(w)
            if w.seq != seq or w.job.state.value != last_state:
                yield update
            seq, last_state, last = w.seq, w.job.state.value, (w, update)
            # Done waiting: a final state, a decision the user must make, or our runner gave up (its error
            # is in the result; resume_video retries without resubmitting a job that was already sent).
            finished = (
                w.job.state.terminal
                or w.job.state is JobState.NEEDS_ATTENTION
                or (not w.running_here and w.runner_error is not None)
            )
            if finished or clock.monotonic() >= deadline:
                yield self._wait_result(w, update, finished=finished, timeout=timeout)
                return
            if not w.running_here:  # another process (or nobody) drives it: re-read the store now and then
                await clock.sleep(min(STORE_POLL_S, deadline - clock.monotonic()))

    @staticmethod
    def _should_drive(w: Watch) -> bool:
        job = w.job
        if w.running_here or w.runner_error is not None or not job.state.active:
            return False  # already driven, or our runner gave up (resume_video retries on request)
        # A non-durable provider's operations (the in-process emulator's) die with the process that ran them:
        # resume_video reports that.
        return durable(job.provider) or job.state is JobState.QUEUED

    def _update(self, w: Watch) -> Update:
        job, p = w.job, w.progress
        # Not driven here: estimated from the submit time and the model's typical latency.
        seen = p if p is not None else self.client.progress_estimate(job)
        view = progress_view(job.id, job.state.value, p, seen.elapsed_s, seen.expected_remaining_s)
        return Update(view["percent"], view["message"], view)

    def _wait_result(self, w: Watch, update: Update, *, finished: bool, timeout: float) -> ToolResult:
        view = job_view(w.job, running_here=w.running_here)
        view["finished"] = finished
        view["progress"] = update.data
        if w.runner_error and not w.job.state.terminal:
            view["error"] = w.runner_error
        if w.job.state is JobState.SUCCEEDED:
            return ok(job_summary(w.job), view)
        failed = _failure(w, view)
        if failed is not None:
            return failed
        return ok(
            f"job {w.job.id} is still {w.job.state.value} after waiting {timeout:g} s "
            f"({update.message}); call wait_for_video(job_id='{w.job.id}') again to keep waiting",
            view,
        )

    async def video_status(self, job_id: JobId) -> ToolResult:
        """Look up one video job (works for jobs from earlier sessions too): its state, the saved files
        with their resolution, duration and size, the estimate and the real cost, any error, and what to
        do next. Returns at once.
        """
        try:
            w = await self.runtime.watch(job_id.strip(), -1, 0.0)
        except Exception as exc:
            return failure_from(exc)
        view = job_view(w.job, running_here=w.running_here)
        if w.runner_error and not w.job.state.terminal:
            view["error"] = w.runner_error
        return ok(job_summary(w.job), view)

    async def list_videos(
        self,
        state: Annotated[
            str | None,
            "Only jobs in this state: queued, submitting, running, downloading, "
            "succeeded, failed, filtered, needs_attention, abandoned or cancelled.",
        ] = None,
        limit: Annotated[int, f"How many, newest first (1 to {MAX_LIST}, default 10)."] = 10,
    ) -> ToolResult:
        """List recent video jobs, newest first, with their state, prompt, files and cost (jobs persist
        across sessions). Use it to find a job id the user refers to.
        """
        try:
            states = [JobState(state.strip().lower())] if state else None
        except ValueError:
            return fail(f"state: {state!r} is not a job state (allowed: {', '.join(s.value for s in JobState)})")
        n = min(max(int(limit), 1), MAX_LIST)
        try:
            jobs = await self.runtime.call(lambda c: c.list_jobs(states=states, limit=n))
        except Exception as exc:
            return failure_from(exc)
        here = set(self.runtime.unfinished_here())
        items = [job_view(j, running_here=j.id in here if j.state.active else None) for j in jobs]
        return ok(
            f"{len(items)} job(s)" + (": " + "; ".join(f"{j.id} {j.state.value}" for j in jobs) if jobs else ""),
            {"jobs": items},
        )

    async def download_video(
        self,
        job_id: JobId,
        destination: Annotated[
            str | None,
            "File path ending in .mp4, or a directory (created if missing), to "
            "copy the video to; omit to just get the saved file's path.",
        ] = None,
        video_index: Annotated[int, "Which video of a multi-sample job (0-based, default 0)."] = 0,
        overwrite: Annotated[bool, "Replace an existing file at destination (default false)."] = False,
    ) -> ToolResult:
        """Get a finished video: copies the saved MP4 to destination (a file path or a directory) and
        returns its path with what a probe of the file found (resolution, duration, fps, codecs, size).
        Without destination it returns the path where veokit saved it. The job must have succeeded
        (see wait_for_video).
        """
        try:
            job = await self._job(job_id)
            if job.state is not JobState.SUCCEEDED:
                return fail(
                    f"job {job.id} is {job.state.value}, not succeeded: nothing to download yet. "
                    f"{job_view(job)['next']}"
                )
            if not 0 <= video_index < len(job.results):
                return fail(f"video_index: {video_index} is out of range (allowed: 0 to {len(job.results) - 1})")
            result = job.results[video_index]
            roots = file_roots.current(self.roots)
            data = await asyncio.to_thread(_copy_and_probe, Path(result.path), destination, overwrite, roots)
        except Exception as exc:
            return failure_from(exc)
        data.update({"job_id": job.id, "saved_path": result.path, "sha256": result.sha256, "cost_usd": job.cost_usd})
        verb = "copied to" if destination else "saved at"
        return ok(
            f"video {verb} {data['path']} ({data['width']}x{data['height']}, {data['duration_s']:.2f} s, "
            f"{data['video_codec']}{'+' + data['audio_codec'] if data['audio_codec'] else ', silent'}, "
            f"{data['size_bytes'] / 1e6:.1f} MB)",
            data,
        )

    async def extend_video(
        self,
        job_id: Annotated[str, "The succeeded job whose video to extend (job_…)."],
        prompt: Annotated[str, "What happens next, continuing the video's last moment."],
        video_index: Annotated[int, "Which video of a multi-sample job (0-based, default 0)."] = 0,
        negative_prompt: Negative = None,
        seed: Seed = None,
        model: Annotated[
            str | None,
            "Model id; default: the original job's model when it supports extension. "
            "Veo 3.1 Standard and Fast extend, Lite does not; Gemini Omni 1.1 and 1.2 extend.",
        ] = None,
        options: Options = None,
    ) -> ToolResult:
        """Continue a finished video and return the new job id at once, like generate_video; the result is one
        combined video. Veo 3.1 adds about 7 s to a 720p video of at most 141 s (billed as 8 s); Gemini Omni
        adds 8 s at the video's resolution, continuing the earlier interaction itself. Otherwise it uses the
        provider's copy of the video while that is kept (2 days), else the saved MP4 (not on the Gemini API's
        Veo, which extends only videos it still holds). Some endpoints reject extending 9:16 videos.
        """
        try:
            job = await self._job(job_id)
            source = await self.runtime.call(lambda c: c.extension_source(job, index=video_index, field="job_id"))
            request = extension_request(
                source, prompt=prompt, negative_prompt=negative_prompt or None, seed=seed, model=model
            )
            plan = self.client.plan(request, source.provider, max_cost_usd=self.max_cost_usd, extending=source)
            return await self._submitted(plan)
        except Exception as exc:
            return failure_from(exc)

    async def resume_video(self, job_id: JobId) -> ToolResult:
        """Continue a job an earlier session left unfinished or set aside as needing attention after its
        deadline, without submitting it again: a job that was already sent is only polled and downloaded.
        Safe while another process works on the job (it is then followed, not run twice). Then call
        wait_for_video. A job whose submit outcome is unknown is the user's decision (veokit jobs retry).
        """
        try:
            job = await self._job(job_id)
            if job.state.terminal:
                return ok(f"job {job.id} is already {job.state.value}; nothing to resume", job_view(job))
            w = await self.runtime.start(job.id, resume=True, settle_s=1.0)
        except Exception as exc:
            return failure_from(exc)
        return self._started_result(w, None)

    async def cancel_video(self, job_id: JobId) -> ToolResult:
        """Stop a queued or running video job the user no longer wants. Before its submit nothing is paid;
        after it, the provider's cancel is called where one exists (fal, Replicate) and nothing is billed;
        Veo on Vertex or the Gemini API has no cancel, so the generation goes on there and its cost stands
        (the result says which). A job already downloading is not cancelled: it is paid for and saved soon.
        """
        try:
            job = await self.runtime.call(lambda c: c.cancel(job_id.strip()))
            note = (await self.runtime.call(lambda c: c.events(job.id)))[-1].message
        except Exception as exc:
            return failure_from(exc)
        return ok(f"job {job.id} cancelled; cost ${job.cost_usd or 0:.2f}. {note}", job_view(job))


def _failure(w: Watch, view: dict[str, Any]) -> ToolResult | None:
    """The error result for a job that will not produce a video without the user or the model acting."""
    job = w.job
    if not w.running_here and w.runner_error is not None and job.state.active:
        # Our runner gave up (network, download) and nobody else is on it; the job itself is intact.
        return fail(
            f"job {job.id} stopped while {job.state.value}: {w.runner_error}. "
            f"resume_video(job_id='{job.id}') tries again without submitting it twice"
        )
    if job.state in (JobState.FAILED, JobState.FILTERED, JobState.NEEDS_ATTENTION, JobState.ABANDONED):
        return fail(f"{job_summary(job)}. {view['next']}")
    return None


def _copy_and_probe(src: Path, destination: str | None, overwrite: bool, roots: FileRoots | None) -> dict[str, Any]:
    if not src.is_file():
        raise E.InvalidRequest(f"the saved file {src} no longer exists (moved or deleted)", field="job_id")
    target = src
    if destination:
        dest = Path(destination).expanduser()
        if dest.is_dir() or destination.endswith(("/", "\\")) or not dest.suffix:
            dest = dest / src.name  # a directory (created if missing) keeps veokit's file name
        if dest.suffix.lower() != ".mp4":
            raise E.InvalidRequest(
                f"destination: {dest} must be a directory or a file name ending in .mp4", field="destination"
            )
        if roots is not None:
            dest = roots.writable(dest, field="destination")
        if dest.exists() and not overwrite and dest.resolve() != src.resolve():
            raise E.InvalidRequest(
                f"destination: {dest} already exists; pass overwrite=true to replace it", field="destination"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.resolve() != src.resolve():
            tmp = dest.with_name(f".{dest.name}.partial")
            shutil.copyfile(src, tmp)
            tmp.replace(dest)  # atomic: a reader never sees half a video
        target = dest
    probe = probe_mp4(target)
    return {
        "path": str(target.resolve()),
        "width": probe.width,
        "height": probe.height,
        "duration_s": round(probe.duration_s, 2),
        "fps": round(probe.fps, 2),
        "video_codec": probe.video_codec,
        "audio_codec": probe.audio_codec,
        "size_bytes": probe.size_bytes,
    }


__all__ = ["DEFAULT_WAIT_S", "MAX_WAIT_S", "ToolResult", "Update", "VideoToolkit"]
