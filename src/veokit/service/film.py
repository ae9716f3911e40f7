"""Films: a storyboard rendered as a resumable graph of jobs on the durable engine.

    async with VeoClient() as veo:
        plan = await veo.film_plan("story.yaml")              # checked and priced; nothing recorded
        film = await veo.film_render("story.yaml", out_dir=Path("film"))
        print(film.video, film.duration_s)

**Every take is a job** whose client key is ``veokit-film:`` + the take's content address
(:mod:`veokit.models.film_plan`): recording a take twice returns the job it first made, so a rerun (after a
kill, an edit, a new pick) finds every take already rendered or running and pays only for takes whose
address is new: the edited shot and the shots downstream of it.

**A film of an API key** (the HTTP service's, ``owner``) records its takes as that key's videos, under keys
that name the key too: the key's limits apply to each take, and two keys rendering the same storyboard share
nothing.

**Rendering** repeats, until every shot's chosen take has succeeded or nothing more can move:

1. look at the store: plan the film with each shot's pick resolved (the file's ``pick``, else the
   lowest-numbered take that succeeded once every take before it has ended), and find each take's job;
2. record the takes whose input is ready: a cut at once, a continuation once the take it follows has
   succeeded (its last frame becomes the first frame, or its video is extended);
3. run every unfinished take here, concurrently, under the store's leases (a worker sharing the store may
   run them instead), and go back to 1 when one ends.

Before anything is recorded the price of every take still to be paid is checked against the budget caps as
one sum (the film's, not each job's): the per-job cap for each take, the daily and per-provider caps against
what today's ledger already holds, and the caller's ``max_cost_usd``. Then the chosen takes are stitched
(:mod:`veokit.media.stitch`), exported as an OpenTimelineIO timeline and shown on a contact sheet.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML

from veokit import errors as E
from veokit.media.contact_sheet import contact_sheet_html, contact_sheet_png, sheet_from_plan
from veokit.media.frames import last_frame_png
from veokit.media.probe import probe_mp4
from veokit.media.stitch import Clip, stitch
from veokit.media.timeline import film_timeline, write_timeline
from veokit.models.film_plan import FilmPlan, PlanContext, ShotPlan, TakePlan, plan_film
from veokit.models.inputs import ImageInput
from veokit.models.job import Job, JobState
from veokit.models.storyboard import Storyboard, load_reference_images, load_storyboard
from veokit.providers import registry
from veokit.service.extension import ExtensionSource
from veokit.service.planning import EPSILON_USD
from veokit.store.budget import budget_day
from veokit.store.tenancy import ApiKey

if TYPE_CHECKING:
    from veokit.service.client import VeoClient

KEY_PREFIX = "veokit-film:"
EventFn = Callable[[str], None]
S = JobState


def take_key(take: TakePlan, owner: ApiKey | None = None) -> str:
    return KEY_PREFIX + (f"{owner.id}:" if owner is not None else "") + take.address


@dataclass(frozen=True)
class FilmStatus:
    """The film as the store knows it: the plan (picks resolved) and each take's job, by take address."""

    board: Storyboard
    plan: FilmPlan
    jobs: Mapping[str, Job]

    def job(self, take: TakePlan) -> Job | None:
        return self.jobs.get(take.address)

    def chosen_job(self, shot_id: str) -> Job | None:
        """The shot's chosen take's job, once it has succeeded."""
        job = self.job(self.plan.shot(shot_id).chosen)
        return job if job is not None and job.state is S.SUCCEEDED else None

    def ready(self, shot: ShotPlan) -> bool:
        """Whether the shot's input exists: a cut always, a continuation once the take it follows succeeded."""
        return shot.upstream is None or self.chosen_job(shot.upstream.shot) is not None

    def unrecorded(self) -> list[tuple[ShotPlan, TakePlan]]:
        """Takes no job was recorded for yet: what rendering the film will still pay for."""
        return [(s, t) for s in self.plan.shots for t in s.takes if self.job(t) is None]

    @property
    def to_pay_usd(self) -> float:
        return round(sum(s.estimate.total_usd for s, _ in self.unrecorded()), 4)

    @property
    def done(self) -> bool:
        return all(self.chosen_job(s.id) is not None for s in self.plan.shots)

    def shot_state(self, shot: ShotPlan) -> str:
        """done · rendering · waiting (for the shot it follows) · failed (no take can be chosen) · not started."""
        if self.chosen_job(shot.id) is not None:
            return "done"
        jobs = [self.job(t) for t in shot.takes]
        if any(j is not None and j.state.active and j.state is not S.NEEDS_ATTENTION for j in jobs):
            return "rendering"
        if any(j is not None and j.state is S.NEEDS_ATTENTION for j in jobs):
            return "needs_attention"
        if jobs and all(j is not None and j.state.terminal for j in jobs):
            return "failed"
        return "not started" if self.ready(shot) else "waiting"

    def view(self) -> dict[str, Any]:
        """The film as JSON for every surface (the CLI's ``--json``, the agent, a studio's storyboard view)."""
        shots = []
        for s in self.plan.shots:
            takes = []
            for t in s.takes:
                job = self.job(t)
                video = job.results[0].path if job is not None and job.results else None
                takes.append(
                    {
                        "take": t.number,
                        "address": t.address,
                        "chosen": t.number == s.pick,
                        "job_id": job.id if job else None,
                        "state": job.state.value if job else "not recorded",
                        "video": video,
                        "cost_usd": job.cost_usd if job else None,
                    }
                )
            row = next(r for r in self.plan.rows() if r["shot"] == s.id)
            shots.append({**row, "state": self.shot_state(s), "pick_source": s.pick_source, "takes": takes})
        return {
            "title": self.plan.title,
            "shots": shots,
            "takes": self.plan.takes,
            "total_usd": self.plan.total_usd,
            "to_pay_usd": self.to_pay_usd,
            "film_seconds": round(self.plan.film_seconds, 3),
            "done": self.done,
            "warnings": list(self.plan.warnings),
        }


@dataclass(frozen=True)
class FilmResult:
    status: FilmStatus
    video: Path  # the stitched film
    timeline: Path  # .otio
    sheet_png: Path
    sheet_html: Path
    duration_s: float  # measured
    recorded: int  # takes this run recorded (each a paid submit, unless an identical video was reused)


@dataclass(frozen=True)
class PickPreview:
    """What choosing another take changes: the shots that follow it, and what re-rendering them costs."""

    shot: str
    take: int
    previous: int
    dependents: tuple[str, ...]
    status: FilmStatus  # the film with the new pick
    to_render: tuple[tuple[str, int], ...]  # (shot, take) with no job yet under the new pick

    @property
    def usd(self) -> float:
        return round(sum(self.status.plan.shot(s).estimate.total_usd for s, _ in self.to_render), 4)


# -- planning ------------------------------------------------------------------------------------------------
def load(board: Storyboard | str | Path) -> Storyboard:
    return board if isinstance(board, Storyboard) else load_storyboard(board)


def context(client: VeoClient, board: Storyboard, provider: str | None = None) -> PlanContext:
    settings = client.settings
    named = provider or board.defaults.provider or all(s.provider for s in board.shots)
    try:
        default = client.default_provider()
    except E.ConfigError:
        if not named:
            raise  # a shot would go to the default provider, and there is none: say how to set one
        default = ""  # never used: every shot names its provider
    return PlanContext(
        catalog=client.catalog,
        default_provider=default,
        provider=provider,
        catalog_key=registry.catalog_key,
        choose_provider=lambda request: client.plan(request, "auto").provider,
        allow_retired=settings.allow_retired,
    )


def plan(
    client: VeoClient,
    board: Storyboard,
    provider: str | None = None,
    picks: Mapping[str, int] | None = None,
) -> FilmPlan:
    images = load_reference_images(board)
    return plan_film(board, context(client, board, provider), images=images, picks=picks)


async def status(
    client: VeoClient, board: Storyboard, provider: str | None = None, owner: ApiKey | None = None
) -> FilmStatus:
    """Plan the film with its picks resolved from the store, and find each take's job (``owner``'s takes)."""
    images = await asyncio.to_thread(load_reference_images, board)
    ctx = context(client, board, provider)
    jobs: dict[str, Job] = {}
    picks: dict[str, int] = {}
    for _ in range(len(board.shots) + 2):  # each round settles at least one more shot, in render order
        film = plan_film(board, ctx, images=images, picks=picks)
        missing = {take_key(t, owner): t.address for s in film.shots for t in s.takes if t.address not in jobs}
        for key, job in (await client.jobs_by_key(missing)).items():
            jobs[missing[key]] = job
        resolved = dict(picks)
        for s in film.shots:
            if s.pick_source != "file" and (n := _first_succeeded(s, jobs)) is not None:
                resolved[s.id] = n
        if resolved == picks:
            return FilmStatus(board, film, {a: j for a, j in jobs.items() if _in(film, a)})
        picks = resolved
    raise AssertionError("picks did not settle")  # pragma: no cover - each round fixes a shot in render order


def _first_succeeded(shot: ShotPlan, jobs: Mapping[str, Job]) -> int | None:
    """The lowest-numbered take that succeeded, once every take before it has ended (deterministic: the same
    pick whichever take happened to finish first)."""
    for take in shot.takes:
        job = jobs.get(take.address)
        if job is None or not job.state.terminal:
            return None
        if job.state is S.SUCCEEDED:
            return take.number
    return None


def _in(film: FilmPlan, address: str) -> bool:
    return any(t.address == address for s in film.shots for t in s.takes)


async def check_budget(
    client: VeoClient, st: FilmStatus, max_cost_usd: float | None = None, owner: ApiKey | None = None
) -> None:
    """The caps, applied to everything the film still has to pay for as one sum, before anything is paid."""
    unpaid = st.unrecorded()
    total = round(sum(s.estimate.total_usd for s, _ in unpaid), 4)
    if max_cost_usd is not None and total > max_cost_usd + EPSILON_USD:
        raise E.BudgetExceeded(
            f"budget: the film needs ${total:.2f} more ({len(unpaid)} takes), over the limit of ${max_cost_usd:.2f}",
            cap="film",
            limit_usd=max_cost_usd,
            estimate_usd=total,
        )
    if owner is not None and unpaid:
        await _check_key(client, owner, total)
    caps = client.budget
    if caps is None or not unpaid:
        return
    for s, t in unpaid:
        caps.check_job(f'shot "{s.id}" take {t.number}', s.estimate.total_usd, s.provider)
    if not caps.needs_ledger:
        return
    day = budget_day(dt.datetime.now(dt.UTC))
    ledger = await client.costs(days=1)
    scopes: list[tuple[str, float | None, str | None, str]] = [
        ("daily", caps.daily_usd, None, "VEOKIT_BUDGET_DAILY_USD")
    ]
    scopes += [
        ("provider", caps.provider_cap(p), p, "VEOKIT_BUDGET_PROVIDER_USD") for p in {s.provider for s, _ in unpaid}
    ]
    for kind, cap, provider, var in scopes:
        need = round(sum(s.estimate.total_usd for s, _ in unpaid if provider in (None, s.provider)), 4)
        committed = ledger.committed(day, provider)
        if cap is not None and committed + need > cap + EPSILON_USD:
            where = f" on {provider}" if provider else ""
            raise E.BudgetExceeded(
                f"budget: the film needs ${need:.2f} more{where}, and ${committed:.2f} is already spent or reserved "
                f"today ({day} UTC): over the {kind} cap of ${cap:.2f} ({var}). Nothing was recorded",
                cap=kind,
                limit_usd=cap,
                committed_usd=committed,
                estimate_usd=need,
                provider=provider,
            )


async def _check_key(client: VeoClient, owner: ApiKey, need: float) -> None:
    """The key's daily budget for the whole film at once (each take is checked again, atomically, as it is
    recorded; this refuses a film that cannot fit before its first take is paid)."""
    cap = client.tenants.limits(owner).daily_usd
    if cap is None:
        return
    used = (await client.tenants.usage(owner)).total_usd
    if used + need > cap + EPSILON_USD:
        raise E.BudgetExceeded(
            f"budget: the film needs ${need:.2f} more, and key {owner.name} has ${used:.2f} spent or queued today: "
            f"over its daily budget of ${cap:.2f}. Nothing was recorded",
            cap="key",
            limit_usd=cap,
            committed_usd=used,
            estimate_usd=need,
        )


# -- rendering -----------------------------------------------------------------------------------------------
@dataclass
class _Run:
    client: VeoClient
    board: Storyboard
    provider: str | None
    takes_dir: Path
    concurrency: int
    on_event: EventFn
    owner: ApiKey | None = None
    running: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    ran: set[str] = field(default_factory=set)  # jobs driven to an end (or a halt) by this run
    recorded: int = 0

    async def go(self) -> FilmStatus:
        slots = asyncio.Semaphore(self.concurrency)
        try:
            while True:
                st = await status(self.client, self.board, self.provider, self.owner)
                for shot_id in st.plan.order:
                    shot = st.plan.shot(shot_id)
                    if not st.ready(shot):
                        continue
                    for take in shot.takes:
                        job = st.job(take)
                        if job is None:
                            try:
                                job = await self._record(st, shot, take)
                            except E.TooManyInFlight:
                                break  # the key's in-flight cap: recorded once one of its videos ends
                        runnable = job.state.active and job.state is not S.NEEDS_ATTENTION
                        if runnable and job.id not in self.running and job.id not in self.ran:
                            self.running[job.id] = asyncio.create_task(self._drive(job, shot, take, slots))
                if not self.running:
                    return st
                done, _ = await asyncio.wait(self.running.values(), return_when=asyncio.FIRST_COMPLETED)
                for job_id, task in list(self.running.items()):
                    if task in done:
                        del self.running[job_id]
                        self.ran.add(job_id)
                        task.result()  # a bug in _drive surfaces; the job's own errors are recorded on it
        finally:
            for task in self.running.values():
                task.cancel()
            await asyncio.gather(*self.running.values(), return_exceptions=True)

    async def _record(self, st: FilmStatus, shot: ShotPlan, take: TakePlan) -> Job:
        source: ExtensionSource | None = None
        if shot.upstream is None:
            request = shot.request_for(take.number)
        else:
            up = st.chosen_job(shot.upstream.shot)
            assert up is not None  # ready() said so
            if shot.upstream.kind == "last_frame":
                png = await asyncio.to_thread(last_frame_png, up.results[0].path)
                frame = ImageInput.from_bytes(png, name=f"{shot.upstream.shot}-last-frame.png")
                request = shot.request_for(take.number, first_frame=frame)
            else:
                source = await self.client.extension_source(up, provider=shot.provider)
                request = shot.request_for(take.number, video=source.video)
        planned = self.client.plan(request, shot.provider, extending=source)
        key = take_key(take, self.owner)
        if self.owner is None:
            job = await self.client.submit(planned, out_dir=self.takes_dir, client_key=key)
        else:
            job = await self.client.tenants.submit(
                self.owner,
                planned,
                idempotency_key=key,
                request_hash=take.address,
                client_key=key,
                note=f'film "{st.plan.title}" shot {shot.id} take {take.number} for key {self.owner.name}',
            )
        self.recorded += 1
        self.on_event(f"{shot.id} take {take.number}: recorded {job.id} ({planned.estimate.describe()})")
        return job

    async def _drive(self, job: Job, shot: ShotPlan, take: TakePlan, slots: asyncio.Semaphore) -> None:
        async with slots:
            try:
                ended = await self.client.wait(job.id)
            except E.VeokitError:  # recorded on the job (needs_attention, failed); the film reports it
                ended = await self.client.get_job(job.id)
        outcome = ended.state.value
        if ended.error:
            outcome += f": {ended.error.get('message', '')}"
        self.on_event(f"{shot.id} take {take.number}: {outcome}")


async def render(
    client: VeoClient,
    board: Storyboard,
    *,
    provider: str | None = None,
    out_dir: Path,
    max_cost_usd: float | None = None,
    concurrency: int | None = None,
    on_event: EventFn | None = None,
    owner: ApiKey | None = None,
) -> FilmResult:
    """Render what is missing, then stitch the chosen takes into ``out_dir/film.mp4`` with its timeline
    (``film.otio``) and contact sheet (``contact-sheet.png``, ``index.html``). When a shot ends with no take
    to choose this raises :class:`~veokit.errors.GenerationFailed` (or :class:`~veokit.errors.NeedsAttention`
    for a take only the user can decide on); what was rendered stays recorded, and a rerun continues.
    ``owner``: render it as that API key's film (its takes are the key's videos, under its limits)."""
    first = await status(client, board, provider, owner)
    await check_budget(client, first, max_cost_usd, owner)
    run = _Run(
        client,
        board,
        provider,
        out_dir / "takes",
        max(1, concurrency or client.settings.worker_concurrency),
        on_event or (lambda line: None),
        owner,
    )
    st = await run.go()
    if not st.done:
        raise _stuck(st)
    return await _assemble(st, out_dir, run.recorded)


def _stuck(st: FilmStatus) -> E.VeokitError:
    """Why rendering cannot go on: a shot with no take to choose, a take that needs a decision, or takes held
    back (by a budget cap) that a rerun continues."""
    for s in st.plan.shots:
        state = st.shot_state(s)
        if state in ("failed", "needs_attention"):
            jobs = [j for t in s.takes if (j := st.job(t)) is not None]
            why = "; ".join(f"take {t.number} {j.state.value}" for t in s.takes if (j := st.job(t)) is not None)
            ids = " ".join(j.id for j in jobs)
            hint = (
                f"decide with `veokit jobs retry|reconcile|abandon` ({ids})"
                if state == "needs_attention"
                else "edit its prompt or seed (or pick another take) and render again"
            )
            message = f'film: shot "{s.id}" has no take to use ({why}); {hint}'
            return E.NeedsAttention(message) if state == "needs_attention" else E.GenerationFailed(message)
    waiting = [s.id for s in st.plan.shots if st.chosen_job(s.id) is None]
    return E.JobStateError(f"film: shots {', '.join(waiting)} are not rendered yet; render again to continue")


async def _assemble(st: FilmStatus, out_dir: Path, recorded: int) -> FilmResult:
    chosen = {s.id: st.chosen_job(s.id) for s in st.plan.shots}
    videos = {sid: Path(job.results[0].path) for sid, job in chosen.items() if job is not None}
    durations = {sid: job.results[0].duration_s for sid, job in chosen.items() if job is not None}
    cuts = st.plan.edit(durations)
    clips = [Clip(videos[c.source], c.start_s, c.end_s, c.crossfade_s) for c in cuts]
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    film_path, otio_path = out_dir / "film.mp4", out_dir / "film.otio"
    png_path, html_path = out_dir / "contact-sheet.png", out_dir / "index.html"
    # The film is a function of its pieces: the same videos cut the same way are not encoded again.
    edit = json.dumps(
        [[str(c.path), chosen_sha(chosen, c.path), c.start_s, c.end_s, c.crossfade_s] for c in clips], sort_keys=True
    )
    stamp = out_dir / ".film-edit.json"
    same = await asyncio.to_thread(lambda: film_path.is_file() and stamp.is_file() and stamp.read_text() == edit)
    if same:
        duration_s = (await asyncio.to_thread(probe_mp4, film_path)).duration_s
    else:
        duration_s = (await asyncio.to_thread(stitch, clips, film_path)).duration_s
        await asyncio.to_thread(stamp.write_text, edit)
    timeline = film_timeline(st.plan, videos, durations=durations, relative_to=out_dir)
    await asyncio.to_thread(write_timeline, timeline, otio_path)
    take_videos: dict[tuple[str, int], Path] = {}
    statuses: dict[tuple[str, int], str] = {}
    for s in st.plan.shots:
        for t in s.takes:
            job = st.job(t)
            if job is not None and job.state is S.SUCCEEDED and job.results:
                take_videos[(s.id, t.number)] = Path(job.results[0].path)
            else:
                statuses[(s.id, t.number)] = job.state.value if job is not None else "not rendered"
    rows = sheet_from_plan(st.plan, st.board, take_videos, statuses)
    await asyncio.to_thread(contact_sheet_png, rows, png_path, title=st.plan.title)
    await asyncio.to_thread(
        lambda: contact_sheet_html(rows, html_path, title=st.plan.title, total_usd=st.plan.total_usd, film=film_path)
    )
    return FilmResult(st, film_path, otio_path, png_path, html_path, duration_s, recorded)


def chosen_sha(chosen: Mapping[str, Job | None], path: Path) -> str | None:
    """The recorded SHA-256 of a chosen video (verified when it was saved), so a replaced file is noticed."""
    for job in chosen.values():
        if job is not None and Path(job.results[0].path) == path:
            return job.results[0].sha256
    return None


# -- picks ---------------------------------------------------------------------------------------------------
def with_pick(board: Storyboard, shot_id: str, take: int) -> Storyboard:
    try:
        index = board.index(shot_id)
    except KeyError:
        known = ", ".join(s.id for s in board.shots)
        raise E.InvalidRequest(f'shot: no shot "{shot_id}" (shots: {known})', field="shot") from None
    shot = board.shots[index]
    if not 1 <= take <= shot.takes:
        raise board.problem(
            ("shots", index, "pick"), f"take {take} does not exist (this shot has {shot.takes} take(s))"
        )
    shots = list(board.shots)
    shots[index] = shot.model_copy(update={"pick": take})
    return board.model_copy(update={"shots": tuple(shots)})


async def preview_pick(
    client: VeoClient,
    board: Storyboard,
    shot_id: str,
    take: int,
    provider: str | None = None,
    owner: ApiKey | None = None,
) -> PickPreview:
    before = await status(client, board, provider, owner)
    after = await status(client, with_pick(board, shot_id, take), provider, owner)
    dependents = after.plan.dependents(shot_id)
    to_render = tuple((s.id, t.number) for s, t in after.unrecorded() if s.id in dependents)
    return PickPreview(shot_id, take, before.plan.shot(shot_id).pick, dependents, after, to_render)


def write_pick(path: str | Path, shot_id: str, take: int) -> None:
    """Set ``pick`` on the shot in the storyboard file, keeping its comments and layout (YAML) or its keys (JSON)."""
    p = Path(path).expanduser()
    board = load_storyboard(p)
    index = board.index(with_pick(board, shot_id, take).shot(shot_id).id)
    text = p.read_text("utf-8")
    if p.suffix.lower() == ".json":
        data = json.loads(text)
        data["shots"][index]["pick"] = take
        out = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    else:
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        doc = yaml.load(text)
        doc["shots"][index]["pick"] = take
        buf = io.StringIO()
        yaml.dump(doc, buf)
        out = buf.getvalue()
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(out, "utf-8")
    with contextlib.suppress(OSError):
        tmp.chmod(p.stat().st_mode)
    tmp.replace(p)
