"""`generate --dry-run` shows the plan every other command would act on: the same checks, nothing sent."""

from __future__ import annotations

import json
from pathlib import Path

from .test_cli import veokit

CREDENTIALS = {"KIE_API_KEY": "k", "VEOKIT_VERTEX_PROJECT": "p", "VEOKIT_VERTEX_ACCESS_TOKEN": "t"}


def test_auto_with_no_candidate_shows_every_one_and_why_then_exits_2(tmp_path: Path) -> None:
    # 4k rules Kie out, 4k at 4 s rules Vertex out, the rest have no credentials.
    args = ["generate", "x", "--provider", "auto", "--negative", "blur", "--resolution", "4k", "-d", "4", "--dry-run"]
    p = veokit(tmp_path, *args, **CREDENTIALS)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "no provider can run this" in p.stderr and "Traceback" not in p.stderr
    # Piped, the candidates are tab-separated lines: provider, model, price, decision.
    rows = {line.split("\t")[0]: line for line in p.stdout.splitlines() if line.count("\t") == 3}
    assert set(rows) >= {"vertex", "kie", "fal", "replicate", "gemini"}
    assert "excluded" in rows["kie"] and "4k is not supported" in rows["kie"]
    assert "no credentials" in rows["fal"]
    doc = json.loads(veokit(tmp_path, *args, "--json", **CREDENTIALS).stdout)
    assert doc["provider"] is None and all(not c["eligible"] for c in doc["candidates"])


def test_a_dry_run_over_the_per_job_cap_says_the_real_run_would_be_refused(tmp_path: Path) -> None:
    p = veokit(
        tmp_path,
        "generate",
        "x",
        "--provider",
        "emulator",
        "--samples",
        "2",
        "--dry-run",
        VEOKIT_BUDGET_PER_JOB_USD="1",
    )
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "budget: the request is estimated at $1.60, over the per-job cap of $1.00" in p.stderr
    cheap = veokit(tmp_path, "generate", "x", "--provider", "emulator", "--dry-run", VEOKIT_BUDGET_PER_JOB_USD="1")
    assert cheap.returncode == 0 and "$0.80" in cheap.stdout and "nothing was sent" in cheap.stdout
    assert json.loads(veokit(tmp_path, "jobs", "list", "--json").stdout) == []
