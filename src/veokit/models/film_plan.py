"""The plan of a film: each shot's effective request, what it waits for, its price and its content address.

Pure: it takes a parsed :class:`Storyboard`, the catalog and the characters' reference images, and does no I/O.
The service layer plans a film before paying for anything, renders the shots in :attr:`FilmPlan.order`
(independent shots in parallel, a shot once the take it follows is done), fills each shot's input with
:meth:`ShotPlan.request_for` (the last frame, or the video, of the take it follows), and keys each take's job
by :attr:`TakePlan.address`.

**Content addresses.** A take's address is the hash of its provider, its effective request (prompt with the
characters and dialogue rendered in, model, size, seed, reference images by content; not the title, the
transition or the pick) and the address of the take it follows. Editing one shot therefore changes the
addresses of that shot and of the shots downstream of it, and nothing else; adding a take adds one address;
picking another take of a shot changes its dependents' addresses (they follow the chosen take).

**Extension chains in the film.** A Veo extension returns the whole video (the input plus the new 7 s), so an
extension chain A -> B -> C is played from the chain's *final* video (C's chosen take): A's piece is its first
len(A) seconds, B's the next 7 s, C's the last 7 s. Nothing is repeated, no seam is introduced between the
original and its extension (Veo "finalizes" the input's last second, so cutting to A's own file there could
jump), and shots of a chain that are not adjacent in the film (a cutaway in between) play their own ranges of
that same video. See :meth:`FilmPlan.edit`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from veokit.errors import InvalidRequest, StoryboardError
from veokit.models.catalog import Catalog, Estimate, Offer
from veokit.models.request import UINT32_MAX, GenerateRequest, ImageInput, VideoInput
from veokit.models.shot_prompt import WORDS_PER_SECOND, render_prompt, speech_words
from veokit.models.storyboard import Path_, Shot, Storyboard

VEO_FPS = 24  # Veo outputs 24 fps, always [VEO]; the edit list cuts on frames at this rate
ADDRESS_VERSION = 1  # bump only if the same request must stop matching videos already rendered

# A last frame or a video exists only once the shot it comes from is rendered; validation uses stand-ins.
_FRAME_STAND_IN = b"\x89PNG\r\n\x1a\n"
_REQUEST_FIELDS = {  # GenerateRequest field -> storyboard field, for the catalog's errors
    "aspect_ratio": "aspect",
    "resolution": "resolution",
    "duration_seconds": "duration",
    "generate_audio": "audio",
    "negative_prompt": "negative_prompt",
    "model": "model",
    "seed": "seed",
    "sample_count": "takes",
    "reference_images": "characters",
    "image": "continuity",
    "last_frame": "continuity",
    "video": "continuity",
    "prompt": "prompt",
}

Join = Literal["first", "cut", "crossfade", "continuous", "match"]
PickSource = Literal["file", "resolved", "default"]


def _same(provider: str) -> str:
    return provider


@dataclass(frozen=True)
class PlanContext:
    """What the service layer knows that a storyboard does not."""

    catalog: Catalog
    default_provider: str
    provider: str | None = None  # overrides every shot's provider (``--provider``)
    catalog_key: Callable[[str], str] = _same  # the catalog rows a provider sells (the registry knows)
    choose_provider: Callable[[GenerateRequest], str] | None = None  # resolves "auto"
    today: dt.date | None = None
    allow_retired: bool = False


@dataclass(frozen=True)
class Upstream:
    """What a shot takes from another: its chosen take's last frame, or its video to extend."""

    shot: str
    kind: Literal["last_frame", "video"]
    take: int
    address: str


@dataclass(frozen=True)
class TakePlan:
    shot: str
    number: int  # 1-based
    address: str
    request: GenerateRequest  # without the upstream input: see ShotPlan.request_for


@dataclass(frozen=True)
class ShotPlan:
    index: int  # position in the film
    id: str
    continuity: str
    provider: str
    offer: Offer
    upstream: Upstream | None
    takes: tuple[TakePlan, ...]
    pick: int
    pick_source: PickSource
    estimate: Estimate  # one take
    address: str
    seconds: int  # what the shot adds to the film (an extension: one step)
    video_seconds: int  # how long its video is (an extension: the whole chain so far)
    dialogue_words: int
    crossfade_s: float = 0.0  # from the shot before it in the film

    @property
    def request(self) -> GenerateRequest:
        return self.takes[0].request

    @property
    def prompt(self) -> str:
        return self.request.prompt

    @property
    def price_usd(self) -> float:
        return round(self.estimate.total_usd * len(self.takes), 4)

    @property
    def chosen(self) -> TakePlan:
        return self.takes[self.pick - 1]

    def take(self, number: int) -> TakePlan:
        if not 1 <= number <= len(self.takes):
            raise InvalidRequest(
                f'take: shot "{self.id}" has no take {number} (takes: 1 to {len(self.takes)})',
                field="take",
                allowed=list(range(1, len(self.takes) + 1)),
            )
        return self.takes[number - 1]

    def request_for(
        self, take: int, *, first_frame: ImageInput | None = None, video: VideoInput | None = None
    ) -> GenerateRequest:
        """Take ``take``'s request with its input filled in: the upstream take's last frame or its video."""
        request = self.take(take).request
        if self.upstream is None:
            if first_frame is not None or video is not None:
                raise InvalidRequest(f'shot "{self.id}" is a cut: it takes no input', field="continuity")
            return request
        if self.upstream.kind == "last_frame":
            if first_frame is None or video is not None:
                raise InvalidRequest(
                    f'shot "{self.id}" starts on the last frame of "{self.upstream.shot}": pass first_frame',
                    field="continuity",
                )
            return request.model_copy(update={"image": first_frame})
        if video is None or first_frame is not None:
            raise InvalidRequest(f'shot "{self.id}" extends "{self.upstream.shot}": pass its video', field="continuity")
        return request.model_copy(update={"video": video})


@dataclass(frozen=True)
class Cut:
    """One shot's piece of the film: ``source``'s chosen video from ``start_s`` to ``end_s``."""

    shot: str
    source: str  # the shot whose chosen take plays here (for an extension chain: its last shot)
    start_s: float
    end_s: float
    join: Join  # how it meets the piece before it
    crossfade_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class FilmPlan:
    title: str
    shots: tuple[ShotPlan, ...]  # in film order
    order: tuple[str, ...]  # render order: every shot after the one it follows
    warnings: tuple[str, ...] = ()
    _by_id: dict[str, ShotPlan] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({s.id: s for s in self.shots})

    def shot(self, shot_id: str) -> ShotPlan:
        try:
            return self._by_id[shot_id]
        except KeyError:
            known = ", ".join(self._by_id)
            raise InvalidRequest(f'shot: no shot "{shot_id}" (shots: {known})', field="shot") from None

    @property
    def total_usd(self) -> float:
        return round(sum(s.price_usd for s in self.shots), 4)

    @property
    def takes(self) -> int:
        return sum(len(s.takes) for s in self.shots)

    @property
    def film_seconds(self) -> float:
        return film_seconds(self.edit())

    def dependents(self, shot_id: str) -> tuple[str, ...]:
        """Every shot downstream of ``shot_id`` (that follows it, or follows one that does), in render order."""
        self.shot(shot_id)
        down: set[str] = {shot_id}
        for sid in self.order:
            up = self._by_id[sid].upstream
            if up is not None and up.shot in down:
                down.add(sid)
        return tuple(sid for sid in self.order if sid in down and sid != shot_id)

    def edit(self, durations: Mapping[str, float] | None = None) -> tuple[Cut, ...]:
        """The film as pieces in order. ``durations``: the length of each shot's chosen video once rendered
        (default: as planned). A ``last_frame`` shot right after the shot it continues starts one frame in,
        since its first frame repeats the last one shown."""
        length = {s.id: float(s.video_seconds) for s in self.shots}
        length.update(durations or {})
        extended_by = {s.upstream.shot: s.id for s in self.shots if s.upstream and s.upstream.kind == "video"}
        cuts: list[Cut] = []
        for s in self.shots:
            final = s.id
            while final in extended_by:
                final = extended_by[final]
            start = length[s.upstream.shot] if s.upstream and s.upstream.kind == "video" else 0.0
            end = length[s.id]
            join: Join = "first"
            fade = 0.0
            if cuts:
                prev = cuts[-1]
                if s.crossfade_s:
                    join, fade = "crossfade", s.crossfade_s
                elif prev.source == final and abs(prev.end_s - start) < 1e-6:
                    join = "continuous"
                elif s.upstream and s.upstream.kind == "last_frame" and s.upstream.shot == prev.shot:
                    join, start = "match", start + 1 / VEO_FPS
                else:
                    join = "cut"
            cuts.append(Cut(s.id, final, start, end, join, fade))
        return tuple(cuts)

    def rows(self) -> list[dict[str, Any]]:
        """One row per shot, for a table (``veokit film plan``) or JSON."""
        return [
            {
                "shot": s.id,
                "continuity": s.continuity if s.upstream is None else f"{s.continuity} from {s.upstream.shot}",
                "provider": s.provider,
                "model": s.offer.model,
                "seconds": s.seconds,
                "takes": len(s.takes),
                "pick": s.pick,
                "usd_per_take": s.estimate.total_usd,
                "usd": s.price_usd,
                "address": s.address,
            }
            for s in self.shots
        ]


def film_seconds(cuts: tuple[Cut, ...]) -> float:
    return sum(c.duration_s for c in cuts) - sum(c.crossfade_s for c in cuts)


# -- planning ----------------------------------------------------------------------------------------------------
def plan_film(
    board: Storyboard,
    ctx: PlanContext,
    *,
    images: Mapping[str, ImageInput] | None = None,
    picks: Mapping[str, int] | None = None,
) -> FilmPlan:
    """Validate every shot against the catalog and the continuity rules, and price and address it.

    ``images``: the characters' reference images by path as written (:func:`load_reference_images`).
    ``picks``: takes chosen outside the file (e.g. the first that succeeded), used where a shot has no ``pick``;
    ones out of range are ignored. Raises :class:`StoryboardError` listing every problem found.
    """
    planner = _Planner(board, ctx, images or {}, picks or {})
    return planner.run()


class _Planner:
    def __init__(
        self, board: Storyboard, ctx: PlanContext, images: Mapping[str, ImageInput], picks: Mapping[str, int]
    ) -> None:
        self.board, self.ctx, self.images, self.picks = board, ctx, images, picks
        self.plans: dict[str, ShotPlan] = {}
        self.problems: list[StoryboardError] = []
        self.warnings: list[str] = []

    def run(self) -> FilmPlan:
        order = _render_order(self.board)
        for shot_id in order:
            i = self.board.index(shot_id)
            up = self.board.upstream(self.board.shots[i])
            if up is not None and up not in self.plans:
                continue  # the shot it follows has a problem already reported
            try:
                self.plans[shot_id] = self._plan_shot(i, self.board.shots[i])
            except StoryboardError as exc:
                self.problems.append(exc)
        self._film_checks()
        if self.problems:
            self.problems.sort(key=lambda p: p.line or 0)
            first = self.problems[0]
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise StoryboardError(
                first.message + more, field=first.field, line=first.line, shot=first.shot, problems=tuple(self.problems)
            )
        return FilmPlan(
            title=self.board.title,
            shots=tuple(self.plans[s.id] for s in self.board.shots),
            order=tuple(order),
            warnings=tuple(self.warnings),
        )

    # -- one shot ---------------------------------------------------------------------------------------------
    def _plan_shot(self, i: int, shot: Shot) -> ShotPlan:
        b, d = self.board, self.board.defaults
        here: Path_ = ("shots", i)
        up_id = b.upstream(shot)
        up = self.plans[up_id] if up_id is not None else None
        provider = self._provider(i, shot)
        key = self.ctx.catalog_key(provider)
        if key not in self.ctx.catalog.providers:
            known = ", ".join(sorted(self.ctx.catalog.providers))
            raise self._problem(i, shot, "provider", f'unknown provider "{provider}" (providers: {known})')
        model = shot.model or d.model or self.ctx.catalog.default_model(key)
        try:
            offer = self.ctx.catalog.offer(key, model, today=self.ctx.today, allow_retired=self.ctx.allow_retired)
        except InvalidRequest as exc:
            raise self._problem(i, shot, "model", exc.message.removeprefix("model: ")) from None
        aspect = shot.aspect or d.aspect
        resolution = shot.resolution or d.resolution
        audio = shot.audio if shot.audio is not None else d.audio
        if shot.continuity == "extend":
            step = offer.extension_adds_s
            if shot.duration is not None and shot.duration != step:
                raise b.problem(
                    (*here, "duration"),
                    f"an extension adds {step} s ({offer.model}), not {shot.duration} s; "
                    "continue with another extend shot for more",
                )
            seconds = step
            # An extension request is sent (and billed) as the 8 s the provider requires for it.
            request_seconds = 8 if "extension" in offer.needs_8s else step
        else:
            seconds = shot.duration if shot.duration is not None else d.duration
            request_seconds = seconds
        video_seconds = seconds
        if up is not None:
            video_seconds = self._continuity_checks(i, shot, up, provider, offer, aspect, seconds)
        self._dialogue_checks(i, shot, offer, audio, seconds)
        refs = self._reference_images(i, shot, offer)
        seed = shot.seed if shot.seed is not None else d.seed
        prompt = render_prompt(b, shot, duration_s=seconds)
        negative = shot.negative_prompt if shot.negative_prompt is not None else d.negative_prompt
        try:
            template = GenerateRequest.build(
                prompt=prompt,
                model=offer.model,
                negative_prompt=negative or None,
                aspect_ratio=aspect,
                resolution=resolution,
                duration_seconds=request_seconds,
                seed=seed,
                generate_audio=audio,
                reference_images=refs,
            )
        except InvalidRequest as exc:
            name = (exc.field or "prompt").split(".")[0]
            raise self._problem(i, shot, _REQUEST_FIELDS.get(name, name), _reason(exc)) from None
        self._validate(i, shot, key, offer, template, up)
        estimate = self.ctx.catalog.estimate(template, offer)
        upstream_input = self._upstream(shot, up)
        takes = tuple(self._take(shot, n, provider, template, seed, upstream_input) for n in range(1, shot.takes + 1))
        pick, source = self._pick(shot)
        return ShotPlan(
            index=i,
            id=shot.id,
            continuity=shot.continuity,
            provider=provider,
            offer=offer,
            upstream=upstream_input,
            takes=takes,
            pick=pick,
            pick_source=source,
            estimate=estimate,
            address=_address("shot", provider, template, upstream_input),
            seconds=seconds,
            video_seconds=video_seconds,
            dialogue_words=speech_words(shot),
            crossfade_s=shot.crossfade or 0.0,
        )

    def _provider(self, i: int, shot: Shot) -> str:
        provider = self.ctx.provider or shot.provider or self.board.defaults.provider or self.ctx.default_provider
        if provider != "auto":
            return provider
        if self.ctx.choose_provider is None:
            raise self._problem(i, shot, "provider", "auto is not available here; name a provider")
        return self.ctx.choose_provider(GenerateRequest(prompt=self.board.shots[i].prompt))

    def _continuity_checks(
        self, i: int, shot: Shot, up: ShotPlan, provider: str, offer: Offer, aspect: str, seconds: int
    ) -> int:
        """The rules between a shot and the one it follows; returns the length of this shot's video."""
        b, at = self.board, ("shots", i, "continuity")
        if aspect != up.request.aspect_ratio:
            raise b.problem(
                at, f'{shot.continuity} needs the aspect ratio of "{up.id}" ({up.request.aspect_ratio}), not {aspect}'
            )
        if shot.continuity != "extend":
            return seconds
        if provider != up.provider:
            raise b.problem(at, f'a video is extended where it was made: "{up.id}" is on {up.provider}, not {provider}')
        allowed = offer.extension_resolutions
        if allowed is not None and up.request.resolution not in allowed:
            raise b.problem(
                at,
                f'{offer.model} extends only {", ".join(allowed)} videos; "{up.id}" is {up.request.resolution}',
            )
        if up.video_seconds > offer.max_extension_input_s:
            longest = int(offer.max_extension_input_s + offer.extension_adds_s)
            raise b.problem(
                at,
                f'"{up.id}" is already {up.video_seconds} s long; {offer.model} extends videos of at most '
                f"{offer.max_extension_input_s:g} s, so an extension chain ends at {longest} s",
            )
        return up.video_seconds + seconds

    def _dialogue_checks(self, i: int, shot: Shot, offer: Offer, audio: bool | None, seconds: int) -> None:
        if not shot.dialogue:
            return
        b = self.board
        if audio is False or offer.audio == "none":
            why = "audio is off" if audio is False else f"{offer.model} makes silent videos"
            raise b.problem(("shots", i, "dialogue"), f"a shot with dialogue needs sound, and {why}")
        for j, line in enumerate(shot.dialogue):
            if line.at is not None and line.at >= seconds:
                raise b.problem(
                    ("shots", i, "dialogue", j, "at"), f"{line.at:g} s is past the end of the {seconds} s shot"
                )
        words = speech_words(shot)
        if words > WORDS_PER_SECOND * seconds:
            where = b.problem(("shots", i, "dialogue"), "").message.rstrip(": ")
            self.warnings.append(
                f"{where}: {words} words in {seconds} s is faster than natural speech "
                f"(about {WORDS_PER_SECOND:g} words/s); Veo may rush or drop lines"
            )

    def _reference_images(self, i: int, shot: Shot, offer: Offer) -> tuple[ImageInput, ...]:
        wanted = shot.references if shot.references is not None else self.board.defaults.references
        if shot.continuity == "extend" or not wanted:
            return ()  # an extension continues a video that already shows them
        b = self.board
        paths: list[str] = []
        owners: list[str] = []
        for key in b.present(shot):
            for written in b.characters[key].images:
                if written not in paths:
                    paths.append(written)
                    owners.append(key)
        if not paths:
            return ()
        if len(paths) > offer.max_reference_images:
            who = ", ".join(dict.fromkeys(owners))
            raise b.problem(
                ("shots", i, "characters"),
                f"{who} bring {len(paths)} reference images; {offer.model} takes at most "
                f"{offer.max_reference_images} (set references: false on this shot, or use fewer images)",
            )
        missing = [p for p in paths if p not in self.images]
        if missing:
            raise b.problem(("shots", i, "characters"), f"reference image {missing[0]} was not loaded")
        return tuple(self.images[p] for p in paths)

    def _validate(
        self, i: int, shot: Shot, key: str, offer: Offer, request: GenerateRequest, up: ShotPlan | None
    ) -> None:
        """The catalog's checks on the request as it will be sent, its input stood in for."""
        probe = request
        if up is not None and shot.continuity == "last_frame":
            probe = request.model_copy(update={"image": ImageInput(data=_FRAME_STAND_IN, mime_type="image/png")})
        elif up is not None:
            uri = f"{offer.extension_input}//{up.id}" if offer.extension_input else f"veokit-film://{up.id}"
            probe = request.model_copy(update={"video": VideoInput(uri=uri)})
        try:
            self.ctx.catalog.validate(probe, key, today=self.ctx.today, allow_retired=self.ctx.allow_retired)
        except InvalidRequest as exc:
            name = _REQUEST_FIELDS.get(exc.field or "", exc.field or "model")
            raise self._problem(i, shot, name, _reason(exc)) from None

    def _upstream(self, shot: Shot, up: ShotPlan | None) -> Upstream | None:
        if up is None:
            return None
        kind: Literal["last_frame", "video"] = "last_frame" if shot.continuity == "last_frame" else "video"
        return Upstream(up.id, kind, up.pick, up.chosen.address)

    def _take(
        self,
        shot: Shot,
        n: int,
        provider: str,
        template: GenerateRequest,
        seed: int | None,
        upstream: Upstream | None,
    ) -> TakePlan:
        request = template
        if seed is not None and n > 1:  # distinct, reproducible variants
            request = template.model_copy(update={"seed": (seed + n - 1) % (UINT32_MAX + 1)})
        return TakePlan(shot.id, n, _address("take", provider, request, upstream, take=n), request)

    def _pick(self, shot: Shot) -> tuple[int, PickSource]:
        if shot.pick is not None:
            return shot.pick, "file"
        resolved = self.picks.get(shot.id)
        if resolved is not None and 1 <= resolved <= shot.takes:
            return resolved, "resolved"
        return 1, "default"

    def _problem(self, i: int, shot: Shot, name: str, message: str) -> StoryboardError:
        """Locate a problem with an effective value at the shot's own field, else where the default was set."""
        if getattr(shot, "from_" if name == "from" else name, None) is not None or name in ("characters", "prompt"):
            return self.board.problem(("shots", i, name), message)
        in_defaults = name in type(self.board.defaults).model_fields and name in self.board.defaults.model_fields_set
        suffix = f" (set in defaults.{name})" if in_defaults else ""
        return self.board.problem(("shots", i, name), f"{message}{suffix}")

    # -- the film as a whole ----------------------------------------------------------------------------------
    def _film_checks(self) -> None:
        b = self.board
        planned = [self.plans[s.id] for s in b.shots if s.id in self.plans]
        if not planned:
            return
        first = planned[0]
        for p in planned[1:]:
            if p.request.aspect_ratio != first.request.aspect_ratio:
                self.problems.append(
                    self._problem(
                        p.index,
                        b.shots[p.index],
                        "aspect",
                        f'{p.request.aspect_ratio} differs from "{first.id}" ({first.request.aspect_ratio}): '
                        "a film has one aspect ratio",
                    )
                )
        if len(planned) != len(b.shots):
            return
        cuts = FilmPlan(b.title, tuple(planned), ()).edit()
        for k, cut in enumerate(cuts):
            fade_out = cuts[k + 1].crossfade_s if k + 1 < len(cuts) else 0.0
            if cut.crossfade_s + fade_out > cut.duration_s - 1 / VEO_FPS:
                index = b.index(cuts[k + 1].shot if fade_out else cut.shot)
                self.problems.append(
                    b.problem(
                        ("shots", index, "crossfade"),
                        f'the crossfades around "{cut.shot}" ({cut.crossfade_s + fade_out:g} s) do not fit in its '
                        f"{cut.duration_s:g} s",
                    )
                )


def _render_order(board: Storyboard) -> list[str]:
    """Shots in film order, except that each comes after the shot it follows."""
    order: list[str] = []
    placed: set[str] = set()
    pending = [s.id for s in board.shots]
    while pending:
        progressed = False
        for sid in list(pending):
            up = board.upstream(board.shot(sid))
            if up is None or up in placed:
                order.append(sid)
                placed.add(sid)
                pending.remove(sid)
                progressed = True
        if not progressed:  # a cycle; parse_storyboard reports it, so this only guards direct callers
            order.extend(pending)
            break
    return order


def _reason(exc: InvalidRequest) -> str:
    """The catalog's message without its leading request field name (the storyboard names its own)."""
    head, sep, rest = exc.message.partition(": ")
    return rest if sep and " " not in head else exc.message


def _canonical(request: GenerateRequest) -> dict[str, Any]:
    """The request as hashed: only fields set to something other than their default (so a new optional field in
    a later veokit leaves existing addresses alone), inputs by content."""
    doc = request.model_dump(
        mode="json", exclude_defaults=True, exclude={"image", "last_frame", "reference_images", "video"}
    )
    if request.reference_images:
        doc["reference_images"] = [r.sha256 for r in request.reference_images]
    return doc


def _address(
    kind: str, provider: str, request: GenerateRequest, upstream: Upstream | None, *, take: int | None = None
) -> str:
    doc: dict[str, Any] = {
        "veokit-film": ADDRESS_VERSION,
        "kind": kind,
        "provider": provider,
        "request": _canonical(request),
        "input": None if upstream is None else {"kind": upstream.kind, "from": upstream.address},
    }
    if take is not None:
        doc["take"] = take
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()
