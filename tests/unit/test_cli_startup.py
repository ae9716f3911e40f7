"""`veokit --help` and every command's `--help` load no heavy module: the service layer's engine, the job store,
SQLAlchemy, PyAV, NumPy, OpenTimelineIO. Each command imports what it uses when it runs, so the start-up every
command pays stays the interpreter, typer and the settings.

A fresh interpreter per case (what a user's shell starts), asked which modules it loaded: no timing, so the test
says the same on a loaded machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "av",
    "numpy",
    "opentimelineio",
    "veokit.engine",
    "veokit.store.sql",
    "veokit.service.client",
    "veokit.service.film",
    "veokit.media.probe",
)

PROBE = """
import json, sys
from veokit.cli.main import main
runs, heavy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
codes = []
for args in runs:
    sys.argv = ["veokit", *args]
    try:
        main()
    except SystemExit as exc:
        codes.append(exc.code or 0)
    else:
        codes.append(0)
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
print(json.dumps({"codes": codes, "loaded": loaded}), file=sys.stderr)
"""


def loaded_by(runs: list[list[str]], env: dict[str, str] | None = None) -> list[str]:
    """The heavy modules one interpreter has loaded after running these command lines, one after another."""
    p = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(runs), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    report = json.loads(p.stderr.strip().splitlines()[-1])
    assert report["codes"] == [0] * len(runs), p.stderr
    loaded: list[str] = report["loaded"]
    return loaded


def test_help_loads_no_heavy_module() -> None:
    # One interpreter for all of them (each start costs a second): a module any of them loads stays loaded.
    helps = [["--help"], ["batch", "--help"], ["generate", "--help"], ["jobs", "list", "--help"], ["worker", "--help"]]
    assert loaded_by(helps) == []


def test_a_command_that_runs_loads_what_it_needs(tmp_path: Path) -> None:
    # The control: the same probe sees the store's modules once a command uses the store, so an empty list above
    # means they were not loaded, not that the probe cannot see them.
    env = {**os.environ, "VEOKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}"}
    loaded = loaded_by([["jobs", "list", "--json"]], env)
    assert {"sqlalchemy", "veokit.service.client", "veokit.store.sql"} <= set(loaded)
