"""The error tree: drawn once (and truly, with each exit code), and every field of every class survives the store."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from veokit import errors as E
from veokit.models.job import Job, JobState
from veokit.store.budget import BudgetCaps

# A value for every constructor parameter of every class, each unlike its default: a field that does not
# survive the round trip then shows as a difference. A new parameter needs a sample here.
SAMPLES: dict[str, Any] = {
    "message": "something went wrong",
    "provider": "vertex",
    "status_code": 429,
    "status": "RESOURCE_EXHAUSTED",
    "reason": "the provider's reason",
    "field": "duration_seconds",
    "allowed": [4, 6, 8],
    "replacement": "veo-3.1-generate-001",
    "retry_after_s": 12.5,
    "twin_id": "job_01twin",
    "reasons": ["celebrity", "violence"],
    "cap": "daily",
    "limit_usd": 3.0,
    "committed_usd": 2.5,
    "estimate_usd": 0.8,
    "limit": 5,
    "path": Path("/videos/out.mp4"),
    "line": 12,
    "shot": "chase",
    "problems": (
        E.StoryboardError("shots[0].prompt: empty", field="prompt", line=3, shot="opening"),
        E.StoryboardError("shots[2].after: no shot named 'x'", field="after", line=9, shot="chase"),
    ),
}


def comparable(value: Any) -> Any:
    """Errors held in fields compare by their records (exceptions compare by identity)."""
    if isinstance(value, E.VeokitError):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return type(value)(comparable(v) for v in value)
    return value


def error_classes(module: Any = E) -> list[type[E.VeokitError]]:
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, E.VeokitError) and obj.__module__ == module.__name__
    ]


def build(cls: type[E.VeokitError]) -> E.VeokitError:
    """An instance with every parameter its constructor chain accepts set to a sample value."""
    own = inspect.signature(cls.__init__).parameters.values()
    positional = [p.name for p in own if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"]
    keywords: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or not issubclass(klass, E.VeokitError):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        keywords |= {p.name for p in params if p.kind is p.KEYWORD_ONLY}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    missing = [n for n in [*positional, *keywords] if n not in SAMPLES and n != "retryable"]
    assert not missing, f"{cls.__name__}: add a sample for {missing} to SAMPLES"
    kw = {n: SAMPLES[n] for n in keywords - set(positional) if n != "retryable"}
    if "retryable" in keywords:
        kw["retryable"] = not cls.retryable  # the instance's own value, not the class default
    return cls(*(SAMPLES[n] for n in positional), **kw)


def round_trip_problems(err: E.VeokitError) -> list[str]:
    record = json.loads(json.dumps(err.to_dict()))  # what the store keeps
    back = E.from_dict(record)
    problems = [] if type(back) is type(err) else [f"came back as {type(back).__name__}"]
    mine, theirs = vars(err), vars(back)
    for name in sorted(set(mine) | set(theirs)):
        if comparable(mine.get(name, "<missing>")) != comparable(theirs.get(name, "<missing>")):
            problems.append(f"{name}: {mine.get(name, '<missing>')!r} came back as {theirs.get(name, '<missing>')!r}")
    if str(back) != str(err) or back.retryable != err.retryable:
        problems.append("str() or retryable differ")
    return problems


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_every_field_of_every_class_survives_to_dict_and_from_dict(cls: type[E.VeokitError]) -> None:
    err = build(cls)
    assert round_trip_problems(err) == []
    assert E.from_dict(err.to_dict()).to_dict() == err.to_dict()


def test_the_round_trip_check_catches_a_field_nobody_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    class Leaky(E.ProviderError):
        def __init__(self, message: str, *, region: str = "", **kw: Any) -> None:
            super().__init__(message, **kw)
            self.region = region

    Leaky.__module__ = E.__name__
    monkeypatch.setattr(E, "Leaky", Leaky, raising=False)
    monkeypatch.setitem(SAMPLES, "region", "europe-west4")
    assert Leaky in error_classes()
    assert any(p.startswith("region:") for p in round_trip_problems(build(Leaky)))

    class Declared(Leaky):
        fields = E.recorded(region=str)

    Declared.__module__ = E.__name__
    monkeypatch.setattr(E, "Declared", Declared, raising=False)
    assert round_trip_problems(build(Declared)) == []


def test_a_budget_error_read_back_from_a_record_keeps_its_cap_and_amounts() -> None:
    job = job_in(JobState.QUEUED, estimate_usd=1.2)
    with pytest.raises(E.BudgetExceeded) as info:
        BudgetCaps(daily_usd=3.0).check_day(job, day="2026-05-01", committed_usd=2.5, committed_provider_usd=0.0)
    back = E.from_dict(json.loads(json.dumps(info.value.to_dict())))
    assert isinstance(back, E.BudgetExceeded)
    assert (back.cap, back.limit_usd, back.committed_usd, back.estimate_usd) == ("daily", 3.0, 2.5, 1.2)
    assert back.exit_code == 2 and back.provider == "vertex"


def test_named_fields_survive() -> None:
    retired = E.from_dict(E.ModelRetired("gone", replacement="veo-3.1", field="model", allowed=["veo-3.1"]).to_dict())
    assert isinstance(retired, E.ModelRetired) and retired.replacement == "veo-3.1"
    assert retired.field == "model" and retired.allowed == ["veo-3.1"]
    limited = E.from_dict(E.RateLimited("slow down", retry_after_s=30.0).to_dict())
    assert isinstance(limited, E.RateLimited) and limited.retry_after_s == 30.0
    filtered = E.from_dict(E.ContentFiltered("no", reasons=["celebrity"]).to_dict())
    assert isinstance(filtered, E.ContentFiltered) and filtered.reasons == ["celebrity"]
    corrupt = E.from_dict(E.CorruptMediaError(Path("a/b.mp4"), "no moov box").to_dict())
    assert isinstance(corrupt, E.CorruptMediaError) and corrupt.path == Path("a/b.mp4")
    assert corrupt.reason == "no moov box" and str(corrupt) == f"{Path('a/b.mp4')}: no moov box"


def test_a_storyboard_error_keeps_every_problem_it_gathered() -> None:
    gathered = E.StoryboardError(
        "shots[0].prompt: empty (and 1 more)", line=3, shot="opening", problems=SAMPLES["problems"]
    )
    record = json.loads(json.dumps(gathered.to_dict()))
    assert [(p["line"], p["shot"]) for p in record["problems"]] == [(3, "opening"), (9, "chase")]
    back = E.from_dict(record)
    assert isinstance(back, E.StoryboardError) and (back.line, back.shot) == (3, "opening")
    assert [(p.line, p.shot, p.message) for p in back.problems] == [
        (3, "opening", "shots[0].prompt: empty"),
        (9, "chase", "shots[2].after: no shot named 'x'"),
    ]
    alone = E.from_dict(E.StoryboardError("title: empty", line=1).to_dict())
    assert isinstance(alone, E.StoryboardError) and alone.problems == (alone,)  # its own only problem, again


def test_records_written_before_a_field_existed_still_load() -> None:
    old = E.from_dict({"type": "RateLimited", "message": "429"})  # no retry_after_s, no retryable
    assert isinstance(old, E.RateLimited) and old.retry_after_s is None and old.retryable
    filtered = E.from_dict({"type": "ContentFiltered", "message": "no"})
    assert isinstance(filtered, E.ContentFiltered) and filtered.reasons == []
    unknown = E.from_dict({"type": "SomethingNewer", "message": "from a later veokit"})
    assert type(unknown) is E.VeokitError and unknown.message == "from a later veokit"
    assert E.from_record(None) is None and E.from_record({}) is None


def test_messages_and_fields_do_not_carry_secrets() -> None:
    err = E.from_dict({"type": "ServerError", "message": "GET /v1?key=AIzaSyA1234567890123456789012345 failed"})
    assert "AIza" not in err.message and "AIza" not in json.dumps(err.to_dict())


def job_in(state: JobState, *, error: E.VeokitError | None = None, estimate_usd: float = 0.5) -> Job:
    now = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    return Job(
        id=f"j-{state.value}",
        state=state,
        provider="vertex",
        model="veo-3.1-fast-generate-001",
        request={"prompt": "p"},
        fingerprint="f",
        idempotency_key="k",
        out_dir="/tmp",
        estimate_usd=estimate_usd,
        error=error.to_dict() if error else None,
        created_at=now,
        updated_at=now,
    )


# -- the docstring tree ----------------------------------------------------------------------------------------
TREE_LINE = re.compile(r"^    (?P<lead>[│├└─ ]*)(?P<names>[A-Z]\w*(?: / [A-Z]\w*)*) \.+ (?P<code>\d+)\b")


def drawn_tree() -> list[tuple[int, str, int]]:
    """(depth, class name, exit code) for each class drawn in the errors module's docstring, in order."""
    assert E.__doc__
    rows = []
    for line in E.__doc__.splitlines():
        m = TREE_LINE.match(line)
        if m:
            for name in m["names"].split(" / "):
                rows.append((len(m["lead"]) // 4, name, int(m["code"])))
    return rows


def test_every_class_is_drawn_once_where_it_sits_with_its_exit_code() -> None:
    rows = drawn_tree()
    names = [name for _, name, _ in rows]
    assert sorted(names) == sorted(c.__name__ for c in error_classes())
    assert len(names) == len(set(names))
    parents: list[str] = []
    for depth, name, code in rows:
        cls = getattr(E, name)
        del parents[depth:]
        if depth:
            assert cls.__bases__ == (getattr(E, parents[depth - 1]),), f"{name} is drawn under {parents[depth - 1]}"
        else:
            assert cls is E.VeokitError
        assert cls.exit_code == code, f"{name} is drawn with exit code {code}, has {cls.exit_code}"
        parents.append(name)


def test_the_tree_check_reads_the_docstring_it_claims_to() -> None:
    rows = drawn_tree()
    assert (0, "VeokitError", 1) in rows and (2, "SubmitOutcomeUnknown", 6) in rows
    assert (2, "InputTooLarge", 2) in rows and (2, "UnsupportedMedia", 2) in rows  # "A / B" on one line
