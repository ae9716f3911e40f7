"""Counters that let tests prove what a client did (how many paid submits, under which credential)."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # A persisted emulator keeps the submit counters (the number that proves nothing was paid twice).
        self.on_submit: Callable[[dict[str, Any]], None] | None = None
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._submits: defaultdict[str, Counter[str]] = defaultdict(Counter)
            self._user_projects: Counter[str] = Counter()
            self._polls = 0
            self._downloads = 0
            self._faults_fired = 0
            self._rate_limited = 0

    def submit(self, credential: str, model: str, user_project: str | None) -> None:
        """Count one accepted (2xx) submit: each one would be billed by Google."""
        with self._lock:
            self._submits[credential][model] += 1
            if user_project:
                self._user_projects[user_project] += 1
            if self.on_submit is not None:
                self.on_submit(self._submit_doc())

    def _submit_doc(self) -> dict[str, Any]:
        return {
            "submits": {cred: dict(models) for cred, models in self._submits.items()},
            "user_projects": dict(self._user_projects),
        }

    def restore(self, doc: dict[str, Any]) -> None:
        """Take back the submit counters a persisted emulator kept."""
        with self._lock:
            for cred, models in (doc.get("submits") or {}).items():
                self._submits[str(cred)].update({str(m): int(n) for m, n in models.items()})
            self._user_projects.update({str(p): int(n) for p, n in (doc.get("user_projects") or {}).items()})

    def poll(self) -> None:
        with self._lock:
            self._polls += 1

    def download(self) -> None:
        with self._lock:
            self._downloads += 1

    def fault(self) -> None:
        with self._lock:
            self._faults_fired += 1

    def rate_limited(self) -> None:
        """Count one submit refused by the quota (429): the number tests use to prove pacing works."""
        with self._lock:
            self._rate_limited += 1

    def snapshot(self, operations: int) -> dict[str, Any]:
        with self._lock:
            submits = {cred: dict(models) for cred, models in self._submits.items()}
            return {
                "submits_total": sum(sum(m.values()) for m in submits.values()),
                "submits": submits,
                "polls": self._polls,
                "downloads": self._downloads,
                "operations": operations,
                "user_projects": dict(self._user_projects),
                "faults_fired": self._faults_fired,
                "rate_limited": self._rate_limited,
            }
