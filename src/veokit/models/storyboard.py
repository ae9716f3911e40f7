"""A film as a file: a title, defaults, characters, and shots that each say how they continue another.

    title: The Last Train
    defaults: {provider: vertex, model: veo-3.1-fast-generate-001, aspect: "16:9", resolution: 720p}
    characters:
      mara: {name: Mara, description: a woman in her sixties in a green raincoat, images: [mara.png]}
    shots:
      - id: platform
        prompt: Mara waits alone on a rain-soaked night platform.
        dialogue:
          - {speaker: mara, text: "We're out of time.", at: 2}
      - id: doors
        prompt: The train doors hiss open.
        continuity: last_frame          # cut (default) | last_frame | extend
        from: platform                  # default: the shot before
        takes: 2

YAML 1.2 or JSON; the JSON Schema (``docs/storyboard.schema.json``) is generated from these models. This module
checks everything that needs no model catalog: shape and types, unique ids, known characters and speakers,
dependencies that exist and form no cycle, extension chains that do not branch, a pick within the takes. What
depends on the model (durations, resolutions, extension limits, prices) is :mod:`veokit.models.film_plan`'s.
Every problem is a :class:`~veokit.errors.StoryboardError` naming file, line, shot and field, e.g.
``story.yaml:14: shots[2] (id "kitchen"): duration: 5 s is not supported (allowed ...)``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from veokit.errors import InvalidRequest, StoryboardError
from veokit.models.request import UINT32_MAX, ImageInput

Continuity = Literal["cut", "last_frame", "extend"]
Path_ = tuple[str | int, ...]  # a place in the document: ("shots", 2, "duration")

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_TAKES = 8  # more variants than this is surely a typo, and a costly one
MAX_CHARACTER_IMAGES = 3  # Veo takes at most 3 reference images per request
MAX_CROSSFADE_S = 2.0


def _seconds(value: Any) -> Any:
    """A time within a shot: a number of seconds, or "M:SS(.s)" as a screenplay would write it."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(?:(\d+):)?(\d+(?:\.\d+)?)\s*", value)
        if m is None:
            raise ValueError(f'"{value}" is not a time: write seconds (2.5) or minutes:seconds ("0:02.5")')
        return int(m.group(1) or 0) * 60 + float(m.group(2))
    return value


Seconds = Annotated[
    float,
    BeforeValidator(_seconds),
    WithJsonSchema(
        {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^(\d+:)?\d+(\.\d+)?$"}]}
    ),
]


@dataclass
class SourceMap:
    """Where each value of a storyboard was written: the display name of the file and a line per path."""

    name: str | None = None
    lines: dict[Path_, int] = field(default_factory=dict)
    base_dir: Path | None = None
    # False for a storyboard from someone who may not read this machine's files (posted to the HTTP service):
    # its reference images must then be inline data: URLs, never paths.
    local_files: bool = True

    def line(self, where: Path_) -> int | None:
        """The line of ``where``, or of the nearest enclosing value that has one."""
        path = tuple(where)
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def problem(self, where: Path_, message: str, shot_ids: list[str] | None = None) -> StoryboardError:
        line = self.line(where)
        label, shot = _label(where, shot_ids or [])
        prefix = ":".join(str(p) for p in (self.name, line) if p is not None)
        if self.name is None and line is not None:
            prefix = f"line {line}"
        text = f"{prefix + ': ' if prefix else ''}{label + ': ' if label else ''}{message}"
        return StoryboardError(text, field=_field_name(where), line=line, shot=shot)


def _label(where: Path_, shot_ids: list[str]) -> tuple[str, str | None]:
    """("shots", 2, "dialogue", 0, "at") -> ('shots[2] (id "x"): dialogue[0].at', "x")."""
    parts: list[str] = []
    shot: str | None = None
    rest = list(where)
    if len(rest) >= 2 and rest[0] == "shots" and isinstance(rest[1], int):
        i = rest[1]
        shot = shot_ids[i] if 0 <= i < len(shot_ids) and shot_ids[i] else None
        parts.append(f'shots[{i}] (id "{shot}")' if shot else f"shots[{i}]")
        rest = rest[2:]
        if not rest:
            return parts[0], shot
        parts.append(": ")
    dotted = ""
    for p in rest:
        dotted += f"[{p}]" if isinstance(p, int) else (f".{p}" if dotted else str(p))
    return "".join(parts) + dotted, shot


def _field_name(where: Path_) -> str | None:
    names = [p for p in where if isinstance(p, str)]
    return names[-1] if names else None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Character(_Model):
    """Someone who appears in several shots: described once, the description goes into every shot's prompt."""

    name: str | None = Field(
        default=None, max_length=40, description="How prompts and dialogue call them (default: their key)."
    )
    description: str = Field(min_length=1, description="What they look like, as a noun phrase.")
    voice: str | None = Field(default=None, description='How they sound ("low and dry"), for generated speech.')
    images: tuple[str, ...] = Field(
        default=(),
        max_length=MAX_CHARACTER_IMAGES,
        description="Reference images (paths relative to the storyboard, or data: URLs), sent with the shots they "
        "are in.",
    )


class Defaults(_Model):
    """What every shot uses unless it says otherwise."""

    provider: str | None = Field(default=None, description="Provider name; default: the one veokit is set to use.")
    model: str | None = Field(default=None, description="Model id or family; default: the provider's default.")
    aspect: str = Field(default="16:9", description='"16:9" or "9:16"; one film has one aspect ratio.')
    resolution: str = Field(default="720p", description="720p, 1080p or 4k (extensions are 720p only).")
    duration: int = Field(default=8, description="Seconds per shot (extension shots add one step instead).")
    audio: bool | None = Field(default=None, description="Generate sound; default: the model's default.")
    negative_prompt: str | None = Field(default=None, description="What no shot should show or sound like.")
    seed: int | None = Field(default=None, ge=0, le=UINT32_MAX, description="Take n uses seed + n - 1.")
    style: str | None = Field(default=None, description="Look and sound shared by every shot, added to prompts.")
    references: bool = Field(default=True, description="Send characters' reference images with the shots they are in.")


class DialogueLine(_Model):
    """One line of speech, rendered into the prompt the way Veo reads speech (see ``shot_prompt``)."""

    speaker: str = Field(description="A key of `characters`.")
    text: str = Field(min_length=1, description="What they say.")
    at: Seconds | None = Field(
        default=None, description="When in the shot they start (seconds or M:SS); give it for all lines or none."
    )
    delivery: str | None = Field(default=None, description='How it is said: "quietly", "with a laugh".')

    @field_validator("at")
    @classmethod
    def _not_negative(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError("a time within a shot is 0 or more")
        return v


class Shot(_Model):
    """One shot: a single generation (per take) and its place in the film."""

    id: str = Field(pattern=ID_PATTERN, description="Unique name of the shot (letters, digits, _ . -).")
    prompt: str = Field(min_length=1, description="What happens in the shot.")
    duration: int | None = Field(default=None, description="Seconds; default defaults.duration (extend: one step).")
    camera: str | None = Field(default=None, description='Shot type and movement: "medium two-shot, slow push-in".')
    characters: tuple[str, ...] = Field(default=(), description="Characters in the shot (speakers are implied).")
    dialogue: tuple[DialogueLine, ...] = ()
    continuity: Continuity = Field(
        default="cut",
        description="cut: independent. last_frame: starts on the last frame of `from`'s chosen take. "
        "extend: a Veo extension of `from`'s chosen take (+7 s, 720p).",
    )
    from_: str | None = Field(
        default=None, alias="from", description="The shot this one continues (default: the shot before it)."
    )
    takes: int = Field(default=1, ge=1, le=MAX_TAKES, description="How many variants to generate.")
    pick: int | None = Field(
        default=None, ge=1, description="The chosen take (1-based); default: the first that succeeded."
    )
    crossfade: float | None = Field(
        default=None, gt=0, le=MAX_CROSSFADE_S, description="Seconds of crossfade from the shot before (cut only)."
    )
    references: bool | None = Field(
        default=None, description="Send the characters' reference images with this shot (cut and last_frame only)."
    )
    provider: str | None = None
    model: str | None = None
    aspect: str | None = None
    resolution: str | None = None
    audio: bool | None = None
    negative_prompt: str | None = None
    seed: int | None = Field(default=None, ge=0, le=UINT32_MAX)
    style: str | None = None


class Storyboard(_Model):
    """A parsed storyboard; ``source`` remembers where each value was written, for errors."""

    model_config = ConfigDict(json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"})

    version: Literal[1] = Field(default=1, description="Storyboard format version.")
    title: str = Field(min_length=1)
    defaults: Defaults = Defaults()
    characters: dict[str, Character] = Field(default_factory=dict)
    shots: tuple[Shot, ...] = Field(min_length=1)

    _source: SourceMap = PrivateAttr(default_factory=lambda: SourceMap())

    @property
    def source(self) -> SourceMap:
        return self._source

    # -- look-ups ----------------------------------------------------------------------------------------
    def shot(self, shot_id: str) -> Shot:
        return self.shots[self.index(shot_id)]

    def index(self, shot_id: str) -> int:
        for i, s in enumerate(self.shots):
            if s.id == shot_id:
                return i
        raise KeyError(shot_id)

    def upstream(self, shot: Shot) -> str | None:
        """The shot ``shot`` continues (its ``from``, else the one before it), or None for a cut."""
        if shot.continuity == "cut":
            return None
        if shot.from_ is not None:
            return shot.from_
        i = self.index(shot.id)
        return self.shots[i - 1].id if i > 0 else None

    def present(self, shot: Shot) -> tuple[str, ...]:
        """Character keys in the shot: those listed, then speakers not listed, each once."""
        keys = [*shot.characters, *(line.speaker for line in shot.dialogue)]
        return tuple(dict.fromkeys(keys))

    def display_name(self, key: str) -> str:
        return self.characters[key].name or key

    def problem(self, where: Path_, message: str) -> StoryboardError:
        """A located error: ``file:line: shots[2] (id "x"): field: message``."""
        return self._source.problem(where, message, self._shot_ids())

    def _shot_ids(self) -> list[str]:
        return [s.id for s in self.shots]


# -- parsing ---------------------------------------------------------------------------------------------------
def load_storyboard(path: str | Path) -> Storyboard:
    """Read and check a storyboard file (``.json`` is read as strict JSON, anything else as YAML 1.2)."""
    p = Path(path).expanduser()
    try:
        text = p.read_text("utf-8")
    except FileNotFoundError:
        raise StoryboardError(f"{path}: no such storyboard file", field="storyboard") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoryboardError(f"{path}: cannot read the storyboard: {exc}", field="storyboard") from None
    fmt: Literal["json", "yaml"] = "json" if p.suffix.lower() == ".json" else "yaml"
    return parse_storyboard(text, name=str(path), fmt=fmt, base_dir=p.parent)


def parse_storyboard(
    text: str,
    *,
    name: str | None = None,
    fmt: Literal["json", "yaml"] | None = None,
    base_dir: Path | None = None,
    local_files: bool = True,
) -> Storyboard:
    """Parse and check a storyboard; raises :class:`StoryboardError` listing every problem found. Without
    ``local_files`` its reference images may only be data: URLs (see :func:`load_reference_images`)."""
    source = SourceMap(name=name, base_dir=base_dir, local_files=local_files)
    if fmt is None:
        fmt = "json" if text.lstrip().startswith("{") else "yaml"
    data = _parse_json(text, source) if fmt == "json" else _parse_yaml(text, source)
    if not isinstance(data, dict):
        raise source.problem((), "a storyboard is a mapping with a title and shots")
    try:
        board = Storyboard.model_validate(data)
    except ValidationError as exc:
        raise _gather([_pydantic_problem(e, data, source) for e in _real_errors(exc.errors())]) from None
    board._source = source
    problems = list(_structure_problems(board))
    if problems:
        raise _gather(problems)
    return board


def _real_errors(errors: list[Any]) -> list[Any]:
    """Pydantic's errors without its echo: a list whose items failed is also reported "too short" (its
    valid items count 0), which is not a problem of its own."""
    failed_under = {tuple(e["loc"][:n]) for e in errors for n in range(1, len(e["loc"]))}
    return [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in failed_under)] or errors


def _gather(problems: list[StoryboardError]) -> StoryboardError:
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return StoryboardError(
        first.message + more, field=first.field, line=first.line, shot=first.shot, problems=tuple(problems)
    )


def _parse_yaml(text: str, source: SourceMap) -> Any:
    yaml = YAML(typ="rt")  # round-trip nodes carry line numbers
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "not valid YAML"
        raise _raw_problem(source, line, f"not valid YAML: {what}") from None
    except YAMLError as exc:
        raise _raw_problem(source, None, f"not valid YAML: {exc}") from None
    source.lines[()] = 1
    return _plain(doc, (), source)


def _parse_json(text: str, source: SourceMap) -> Any:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _raw_problem(source, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    try:  # JSON is YAML 1.2 as far as positions go; a file YAML cannot read simply has no line numbers
        _plain(YAML(typ="rt").load(text), (), source)
    except (YAMLError, StoryboardError):
        source.lines.clear()
    return data


def _raw_problem(source: SourceMap, line: int | None, message: str) -> StoryboardError:
    if line is not None:
        source.lines[()] = line
    return source.problem((), message)


def _plain(node: Any, where: Path_, source: SourceMap) -> Any:
    """ruamel's round-trip nodes to plain values, recording the line of every key and item."""
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str):
                raise source.problem(where, f"keys are text, not {key!r}")
            with contextlib.suppress(KeyError, TypeError):  # keys merged in with "<<" have no position of their own
                source.lines[(*where, key)] = node.lc.key(key)[0] + 1
            out[key] = _plain(value, (*where, key), source)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            with contextlib.suppress(KeyError, TypeError):
                source.lines[(*where, i)] = node.lc.item(i)[0] + 1
            items.append(_plain(value, (*where, i), source))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, dt.date):
        return node.isoformat()
    return str(node)


_MODELS: dict[str, type[BaseModel]] = {
    "": Storyboard,
    "defaults": Defaults,
    "characters.*": Character,
    "shots.*": Shot,
    "shots.*.dialogue.*": DialogueLine,
}


def _model_at(where: Path_) -> type[BaseModel] | None:
    generic = ["*" if isinstance(p, int) or (i == 1 and where[0] == "characters") else p for i, p in enumerate(where)]
    return _MODELS.get(".".join(str(p) for p in generic))


_TYPE_MESSAGES = {
    "int_type": "should be a whole number",
    "int_parsing": "should be a whole number",
    "int_from_float": "should be a whole number",
    "float_type": "should be a number",
    "float_parsing": "should be a number",
    "string_type": "should be text",
    "bool_type": "should be true or false",
    "bool_parsing": "should be true or false",
    "list_type": "should be a list",
    "tuple_type": "should be a list",
    "dict_type": "should be a mapping",
    "model_type": "should be a mapping",
}


def _pydantic_problem(err: Mapping[str, Any], data: dict[str, Any], source: SourceMap) -> StoryboardError:
    where: Path_ = tuple(err["loc"])
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        model = _model_at(where[:-1])
        known = sorted(f.alias or n for n, f in model.model_fields.items()) if model else []
        close = difflib.get_close_matches(str(where[-1]), known, n=1)
        hint = f'; did you mean "{close[0]}"?' if close else f" (known: {', '.join(known)})" if known else ""
        message = f"unknown field{hint}"
    elif kind == "missing":
        message = "required"
    elif kind in ("too_short", "too_long"):
        ctx = err.get("ctx", {})
        limit = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        message = f"{'at least' if kind == 'too_short' else 'at most'} {limit} item(s), not {ctx.get('actual_length')}"
    else:
        message = _TYPE_MESSAGES.get(kind) or str(err["msg"]).removeprefix("Value error, ")
        if kind not in ("value_error",) and isinstance(value, str | int | float | bool) and len(str(value)) <= 40:
            message += f", not {json.dumps(value)}"
    raw_shots = data.get("shots")
    ids = [s.get("id") if isinstance(s, dict) else None for s in raw_shots] if isinstance(raw_shots, list) else []
    return source.problem(where, message, [i if isinstance(i, str) else "" for i in ids])


# -- checks that need no catalog ---------------------------------------------------------------------------------
def _structure_problems(board: Storyboard) -> Iterable[StoryboardError]:
    yield from _character_problems(board)
    seen: dict[str, int] = {}
    for i, shot in enumerate(board.shots):
        if shot.id in seen:
            yield board.problem(("shots", i, "id"), f'"{shot.id}" is also the id of shots[{seen[shot.id]}]')
        seen.setdefault(shot.id, i)
    for i, shot in enumerate(board.shots):
        yield from _shot_problems(board, i, shot, seen)
    yield from _graph_problems(board, seen)


def _character_problems(board: Storyboard) -> Iterable[StoryboardError]:
    for key, character in board.characters.items():
        if not re.fullmatch(ID_PATTERN, key):
            yield board.problem(("characters", key), "a character's key is letters, digits, _ . - (up to 64)")
        name = character.name or key
        if '"' in name or "\n" in name or ":" in name:
            yield board.problem(("characters", key, "name"), "a name cannot contain quotes, colons or line breaks")


def _shot_problems(board: Storyboard, i: int, shot: Shot, ids: Mapping[str, int]) -> Iterable[StoryboardError]:
    at = ("shots", i)
    for j, key in enumerate(shot.characters):
        if key not in board.characters:
            yield board.problem((*at, "characters", j), _unknown_character(board, key))
        elif key in shot.characters[:j]:
            yield board.problem((*at, "characters", j), f'"{key}" is listed twice')
    for j, line in enumerate(shot.dialogue):
        if line.speaker not in board.characters:
            yield board.problem((*at, "dialogue", j, "speaker"), _unknown_character(board, line.speaker))
    timed = [line.at is not None for line in shot.dialogue]
    if any(timed) and not all(timed):
        j = timed.index(False)
        yield board.problem((*at, "dialogue", j, "at"), "give every line of a shot a time, or none")
    elif all(timed):
        times = [line.at for line in shot.dialogue if line.at is not None]
        for j in range(1, len(times)):
            if times[j] <= times[j - 1]:
                yield board.problem(
                    (*at, "dialogue", j, "at"), f"{times[j]:g} s is not after the line before ({times[j - 1]:g} s)"
                )
    if shot.pick is not None and shot.pick > shot.takes:
        have = ", ".join(str(n) for n in range(1, shot.takes + 1))
        yield board.problem(
            (*at, "pick"), f"take {shot.pick} does not exist (this shot has {shot.takes} take(s): {have})"
        )
    if shot.crossfade is not None:
        if shot.continuity != "cut":
            yield board.problem((*at, "crossfade"), f"a crossfade needs a cut; {shot.continuity} continues the shot")
        elif i == 0:
            yield board.problem((*at, "crossfade"), "the first shot has nothing to fade from")
    if shot.from_ is not None:
        if shot.continuity == "cut":
            yield board.problem((*at, "from"), "a cut continues nothing; set continuity to last_frame or extend")
        elif shot.from_ not in ids:
            close = difflib.get_close_matches(shot.from_, list(ids), n=1)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            yield board.problem((*at, "from"), f'no shot has the id "{shot.from_}"{hint}')
        elif shot.from_ == shot.id:
            yield board.problem((*at, "from"), "a shot cannot continue itself")
    elif shot.continuity != "cut" and i == 0:
        yield board.problem(
            (*at, "continuity"),
            f"{shot.continuity} needs a shot to continue: there is none before the first shot (name one with from:)",
        )


def _unknown_character(board: Storyboard, key: str) -> str:
    close = difflib.get_close_matches(key, list(board.characters), n=1)
    if close:
        return f'unknown character "{key}"; did you mean "{close[0]}"?'
    known = ", ".join(board.characters) or "none are defined"
    return f'unknown character "{key}" (characters: {known})'


def _graph_problems(board: Storyboard, ids: Mapping[str, int]) -> Iterable[StoryboardError]:
    upstream = {s.id: board.upstream(s) for s in board.shots}
    reported: set[str] = set()
    for i, shot in enumerate(board.shots):
        chain = [shot.id]
        node = upstream.get(shot.id)
        while node is not None and node in ids and node not in chain:
            chain.append(node)
            node = upstream.get(node)
        if node is not None and node == shot.id and shot.id not in reported:
            reported.update(chain)
            loop = " -> ".join(f'"{s}"' for s in [*chain, shot.id])
            yield board.problem(("shots", i, "from"), f"the shots continue each other in a cycle: {loop}")
    extended_by: dict[str, str] = {}
    for i, shot in enumerate(board.shots):
        src = upstream[shot.id]
        if shot.continuity != "extend" or src is None or src not in ids:
            continue
        if src in extended_by:
            yield board.problem(
                ("shots", i, "continuity"),
                f'shot "{src}" is already extended by "{extended_by[src]}": an extension chain cannot branch'
                " (continue from its end with last_frame instead)",
            )
        else:
            extended_by[src] = shot.id


# -- reference images and schema ---------------------------------------------------------------------------------
def load_reference_images(board: Storyboard, base_dir: Path | None = None) -> dict[str, ImageInput]:
    """Read every character's reference images (relative to the storyboard, or inline as data: URLs), keyed by
    the path as written. A storyboard parsed without ``local_files`` names no file: a path is refused unread."""
    root = base_dir or board.source.base_dir or Path.cwd()
    images: dict[str, ImageInput] = {}
    for key, character in board.characters.items():
        for j, written in enumerate(character.images):
            if written in images:
                continue
            try:
                if written[:5].lower() == "data:":
                    images[written] = ImageInput.from_bytes(_data_url(written), name=f"{key}-{j + 1}", field="images")
                elif not board.source.local_files:
                    raise InvalidRequest(
                        "images: give the image inline as a data: URL (data:image/png;base64,...); "
                        "a storyboard sent to the service cannot name files on its machine",
                        field="images",
                    )
                else:
                    images[written] = ImageInput.from_path(root / Path(written).expanduser(), field="images")
            except InvalidRequest as exc:
                reason = exc.message.removeprefix("images: ")
                raise board.problem(("characters", key, "images", j), reason) from None
    return images


def _data_url(url: str) -> bytes:
    head, sep, payload = url.partition(",")
    if not sep or not head.lower().endswith(";base64"):
        raise InvalidRequest("images: a data: URL here is base64 (data:image/png;base64,...)", field="images")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("images: the data: URL's base64 is not valid", field="images") from None


def storyboard_json_schema() -> dict[str, Any]:
    """The published JSON Schema of the storyboard format (``docs/storyboard.schema.json``)."""
    schema = Storyboard.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": schema.pop("$schema"), **schema}
