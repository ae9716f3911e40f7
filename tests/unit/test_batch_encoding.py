"""What recording and printing a large batch skip, and when they may not: the store's copy of a job it is given
(:func:`veokit.store.codec.as_stored`) and json's indenting encoder for ``--json`` output."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest

from veokit.cli import output as ui
from veokit.models.job import Job, JobState, new_job_id, utcnow
from veokit.store import codec


def job(**overrides: Any) -> Job:
    now = utcnow()
    fields: dict[str, Any] = {
        "id": new_job_id(),
        "state": JobState.QUEUED,
        "provider": "vertex",
        "model": "veo-3.1-fast-generate-001",
        "request": {"prompt": "a fox", "duration_seconds": 4, "options": {"x": 1.5}, "reference_images": []},
        "fingerprint": "f" * 64,
        "out_dir": "/tmp/out",
        "estimate_usd": 0.4,
        "created_at": now,
        "updated_at": now,
    }
    return Job(**(fields | overrides))


def test_a_job_already_as_stored_is_not_copied_and_any_other_is_normalised() -> None:
    fresh = job()
    assert codec.as_stored(fresh) is fresh and codec.as_stored(fresh) == codec.normalise_job(fresh)
    plus_two = dt.timezone(dt.timedelta(hours=2))
    for odd in (
        job(request={"prompt": "a fox", "reference_images": ()}),  # a tuple comes back a list
        job(request={"prompt": "a fox", "state": JobState.QUEUED}),  # an enum comes back its text
        job(request={"prompt": "a fox", "gain": math.nan}),  # NaN comes back null
        job(error={"message": "x", "at": (1, 2)}),
        job(created_at=utcnow().astimezone(plus_two)),  # comes back in UTC
    ):
        stored = codec.as_stored(odd)
        assert stored is not odd and stored == codec.normalise_job(odd)


def test_json_output_is_the_same_text_from_either_encoder(capsys: pytest.CaptureFixture[str]) -> None:
    plain = {"jobs": [{"line": 1, "cost": 0.4, "files": [], "error": None, "ok": True, "prompt": 'ça, "q"\n'}]}
    ui.print_json(plain)
    assert capsys.readouterr().out == json.dumps(plain, indent=2, ensure_ascii=False) + "\n"
    # Not plain JSON: json's forms stay (a datetime as str() writes it, NaN as NaN).
    at = dt.datetime(2026, 12, 3, 16, 0, tzinfo=dt.UTC)
    odd = {"at": at, "gain": math.nan, "ok": 1}
    ui.print_json(odd)
    assert capsys.readouterr().out == json.dumps(odd, indent=2, ensure_ascii=False, default=str) + "\n"
