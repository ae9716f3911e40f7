"""EmulatorConfig: everything an emulator instance is started with.

Frozen so a running server's settings can only change through :meth:`EmulatorState.set_latency`
(the admin API), which swaps in a new copy; handlers always read one consistent snapshot.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PROJECT = "veokit-emulator"
DEFAULT_SERVICE_ACCOUNT = f"emulator@{DEFAULT_PROJECT}.iam.gserviceaccount.com"


@dataclass(frozen=True)
class EmulatorConfig:
    api_keys: Sequence[str] = ("test-key",)
    bearer_tokens: Sequence[str] = ("test-token",)
    latency_s: float = 0.5
    latency_range_s: tuple[float, float] | None = None
    seed: int = 0
    retention_s: float = 2 * 86400
    as_of: dt.date | None = None
    storage_dir: Path | None = None
    token_lifetime_s: float = 3600
    render_workers: int = 2
    # How long the signed content URL a Gemini download redirects to stays valid (Google's are short-lived).
    signed_url_ttl_s: float = 600
    # What the emulated GCE metadata server reports.
    project_id: str = DEFAULT_PROJECT
    service_account_email: str = DEFAULT_SERVICE_ACCOUNT
    scopes: Sequence[str] = field(default=("https://www.googleapis.com/auth/cloud-platform",))
    # Submits accepted per credential per window (None: unlimited); past it, 429 with RetryInfo.
    quota_requests: int | None = None
    quota_window_s: float = 60.0
    # Fault rules active from the start, in the admin API's JSON shape (see faults.py).
    faults: Sequence[dict[str, object]] = ()
    # Task-based resellers (emulator/kie.py, fal.py, replicate.py): accepted secrets, Kie's starting credit
    # balance per key, and how long their temporary result URLs stay valid.
    kie_api_keys: Sequence[str] = ("test-kie-key",)
    fal_keys: Sequence[str] = ("test-fal-key",)
    replicate_tokens: Sequence[str] = ("test-replicate-token",)
    kie_credits: float = 10_000.0
    result_url_ttl_s: float = 3600
    # Keep accepted operations/tasks and their results here, so an emulator started again on the same directory
    # answers them (see persist.py). Renders are kept here too unless storage_dir says otherwise.
    state_dir: Path | None = None

    def __post_init__(self) -> None:
        # Accept lists from callers (CLI flags), store tuples so the config stays hashable and immutable.
        object.__setattr__(self, "api_keys", tuple(self.api_keys))
        object.__setattr__(self, "bearer_tokens", tuple(self.bearer_tokens))
        object.__setattr__(self, "scopes", tuple(self.scopes))
        object.__setattr__(self, "faults", tuple(self.faults))
        for name in ("kie_api_keys", "fal_keys", "replicate_tokens"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("storage_dir", "state_dir"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        if self.latency_range_s is not None:
            lo, hi = (float(v) for v in self.latency_range_s)
            object.__setattr__(self, "latency_range_s", (lo, hi))
        problems = self.problems()
        if problems:
            raise ValueError("invalid emulator config: " + "; ".join(problems))

    def problems(self) -> list[str]:
        out: list[str] = []
        if not _finite_nonneg(self.latency_s):
            out.append(f"latency_s must be a finite number >= 0, got {self.latency_s}")
        if self.latency_range_s is not None:
            lo, hi = self.latency_range_s
            if not (_finite_nonneg(lo) and _finite_nonneg(hi) and lo <= hi):
                out.append(f"latency_range_s must be (lo, hi) with 0 <= lo <= hi, got {self.latency_range_s}")
        if not (_finite_nonneg(self.retention_s) and self.retention_s > 0):
            out.append(f"retention_s must be > 0, got {self.retention_s}")
        if not (_finite_nonneg(self.token_lifetime_s) and self.token_lifetime_s > 0):
            out.append(f"token_lifetime_s must be > 0, got {self.token_lifetime_s}")
        if self.quota_requests is not None and self.quota_requests < 1:
            out.append(f"quota_requests must be >= 1, got {self.quota_requests}")
        if not (_finite_nonneg(self.quota_window_s) and self.quota_window_s > 0):
            out.append(f"quota_window_s must be > 0, got {self.quota_window_s}")
        if self.render_workers < 1:
            out.append(f"render_workers must be >= 1, got {self.render_workers}")
        if any(not k for k in (*self.api_keys, *self.bearer_tokens)):
            out.append("api_keys and bearer_tokens must not contain empty strings")
        if any(not k for k in (*self.kie_api_keys, *self.fal_keys, *self.replicate_tokens)):
            out.append("kie_api_keys, fal_keys and replicate_tokens must not contain empty strings")
        if not (_finite_nonneg(self.result_url_ttl_s) and self.result_url_ttl_s > 0):
            out.append(f"result_url_ttl_s must be > 0, got {self.result_url_ttl_s}")
        return out

    def today(self) -> dt.date:
        """The date that decides which catalog models are retired."""
        return self.as_of or dt.date.today()


def _finite_nonneg(v: float) -> bool:
    return isinstance(v, int | float) and math.isfinite(v) and v >= 0
