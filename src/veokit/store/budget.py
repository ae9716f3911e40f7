"""The cost ledger's rules, shared by every store: caps, reservations, and how a job's state settles them.

Money is committed *before* it is spent. Moving a job ``queued → submitting`` writes a reservation row for
its estimate (the price if every sample is delivered, so never below what Google bills); the row follows the
job from then on, inside the same database transaction as each state change:

    submitting → running …   reserved  (amount = estimate)
    … → succeeded            spent     (amount = the job's actual cost)
    … → failed / filtered    released  (amount = 0: Google bills neither)
    submitting → queued      released  (nothing was sent)
    submitting → needs_attention, or a running job abandoned
                             unknown   (amount = estimate: the provider may bill it; counted until the day ends)
    … → cancelled            spent     (amount = the cost that stands: 0 once the provider stopped it,
                                        else the estimate)
    needs_attention → running (the operation was found)
                             reserved again

A job may be submitted more than once (a user's retry, a failover), so a job has one row per reservation,
numbered ``seq``; a state change settles the newest. Caps compare the sum of every row's amount for the day
(days are UTC) plus the new estimate with the limit, under a lock held across the check and the reservation,
so concurrent workers cannot together overshoot a cap.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

# Re-exported: the error a cap raises lives in veokit.errors with the rest of the tree.
from veokit.errors import BudgetExceeded as BudgetExceeded
from veokit.models.job import Job, JobState

S = JobState
EPSILON_USD = 1e-9  # float sums of cents: a job exactly at the cap fits


@dataclass(frozen=True)
class BudgetCaps:
    """Spending limits in USD. ``None`` (or an absent provider) means no limit. Daily caps are per UTC day."""

    per_job_usd: float | None = None
    daily_usd: float | None = None
    provider_daily_usd: Mapping[str, float] = field(default_factory=dict)
    # Providers whose prices are play money (the emulator): their jobs are still checked against the per-job
    # cap (so trying caps out behaves like the real thing) but never consume or meet the daily caps.
    emulated: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        values = [self.per_job_usd, self.daily_usd, *self.provider_daily_usd.values()]
        bad = [v for v in values if v is not None and not (math.isfinite(v) and v >= 0)]
        if bad:
            raise ValueError(f"budget caps must be finite and >= 0, got {bad[0]}")

    @property
    def any(self) -> bool:
        return self.per_job_usd is not None or self.daily_usd is not None or bool(self.provider_daily_usd)

    @property
    def needs_ledger(self) -> bool:
        """Whether checking needs today's ledger sums (and so the budget lock)."""
        return self.daily_usd is not None or bool(self.provider_daily_usd)

    def provider_cap(self, provider: str) -> float | None:
        return self.provider_daily_usd.get(provider)

    def check_job(self, job_id: str, estimate_usd: float, provider: str | None = None) -> None:
        """The per-job cap, which needs no ledger: also checked at enqueue, before a job is recorded."""
        cap = self.per_job_usd
        if cap is not None and estimate_usd > cap + EPSILON_USD:
            raise BudgetExceeded(
                f"budget: {job_id} is estimated at ${estimate_usd:.2f}, over the per-job cap of ${cap:.2f} "
                "(VEOKIT_BUDGET_PER_JOB_USD)",
                cap="per_job",
                limit_usd=cap,
                estimate_usd=estimate_usd,
                provider=provider,
            )

    def check_day(self, job: Job, *, day: str, committed_usd: float, committed_provider_usd: float) -> None:
        """The daily caps, given what the ledger already holds for ``day`` in real money (all real providers, and
        this one). An emulated job has no real cost to weigh against them."""
        if job.provider in self.emulated:
            return
        est = job.estimate_usd
        checks = [
            ("daily", self.daily_usd, committed_usd, "VEOKIT_BUDGET_DAILY_USD", "today"),
            (
                "provider",
                self.provider_cap(job.provider),
                committed_provider_usd,
                "VEOKIT_BUDGET_PROVIDER_USD",
                f"on {job.provider} today",
            ),
        ]
        for kind, cap, committed, var, scope in checks:
            if cap is not None and committed + est > cap + EPSILON_USD:
                raise BudgetExceeded(
                    f"budget: {job.id} (${est:.2f}) would exceed the {kind} cap of ${cap:.2f} ({var}); "
                    f"${committed:.2f} is already spent or reserved {scope} ({day} UTC). The job stays queued",
                    cap=kind,
                    limit_usd=cap,
                    committed_usd=round(committed, 4),
                    estimate_usd=est,
                    provider=job.provider,
                )


class LedgerStatus(enum.StrEnum):
    RESERVED = "reserved"
    SPENT = "spent"
    RELEASED = "released"
    UNKNOWN = "unknown"


L = LedgerStatus


@dataclass(frozen=True)
class Settle:
    """Update the job's newest ledger row (every row with ``all_rows``) whose status is in ``when``."""

    when: frozenset[LedgerStatus]
    to: LedgerStatus
    amount: Literal["keep", "zero", "cost"]
    all_rows: bool = False


RESERVE: Literal["reserve"] = "reserve"


def ledger_change(src: JobState, to: JobState) -> Literal["reserve"] | Settle | None:
    """What a state change does to the job's ledger rows (see the module docstring)."""
    if to is S.SUBMITTING:
        return RESERVE
    if to in (S.SUCCEEDED, S.CANCELLED):
        return Settle(frozenset({L.RESERVED, L.UNKNOWN}), L.SPENT, "cost")
    if to in (S.FAILED, S.FILTERED) or (src is S.SUBMITTING and to is S.QUEUED):
        return Settle(frozenset({L.RESERVED, L.UNKNOWN}), L.RELEASED, "zero")
    if src is S.SUBMITTING and to is S.NEEDS_ATTENTION:
        return Settle(frozenset({L.RESERVED}), L.UNKNOWN, "keep")
    if src is S.NEEDS_ATTENTION and to is S.RUNNING:
        return Settle(frozenset({L.UNKNOWN}), L.RESERVED, "keep")
    if to is S.ABANDONED:
        return Settle(frozenset({L.RESERVED}), L.UNKNOWN, "keep", all_rows=True)
    return None


def settled_amount(settle: Settle, job: Job, current: float) -> float:
    if settle.amount == "zero":
        return 0.0
    if settle.amount == "cost":
        return job.cost_usd if job.cost_usd is not None else job.estimate_usd
    return current


def budget_day(now: dt.datetime) -> str:
    """The UTC day a reservation counts against, as ``YYYY-MM-DD`` (text orders like time)."""
    return now.astimezone(dt.UTC).date().isoformat()


@dataclass(frozen=True)
class SpendRow:
    """One day × provider × model of the ledger: what was spent, what is still reserved, what is unknown."""

    day: str
    provider: str
    model: str
    submits: int
    spent_usd: float
    reserved_usd: float
    unknown_usd: float
    released: int
    spent_estimate_usd: float = 0.0  # what the spent rows were estimated at: estimate vs actual

    @property
    def committed_usd(self) -> float:
        return round(self.spent_usd + self.reserved_usd + self.unknown_usd, 4)


@dataclass(frozen=True)
class SpendSummary:
    rows: list[SpendRow]
    queued_jobs: int  # recorded, not yet submitted: nothing reserved for them yet
    queued_estimate_usd: float

    def committed(self, day: str, provider: str | None = None, *, exclude: Collection[str] = ()) -> float:
        return round(
            sum(
                r.committed_usd
                for r in self.rows
                if r.day == day and provider in (None, r.provider) and r.provider not in exclude
            ),
            4,
        )

    def only(self, providers: Collection[str], *, keep: bool = True) -> SpendSummary:
        """The rows of these providers (``keep``) or of every other one; queued jobs are not split by provider."""
        rows = [r for r in self.rows if (r.provider in providers) == keep]
        return SpendSummary(rows, self.queued_jobs, self.queued_estimate_usd)

    def totals(self, day: str) -> dict[str, float | int]:
        """Sums over every row: what ``veokit costs --json`` reports for real and for emulated money."""
        return {
            "submits": sum(r.submits for r in self.rows),
            "spent_usd": round(sum(r.spent_usd for r in self.rows), 4),
            "reserved_usd": round(sum(r.reserved_usd for r in self.rows), 4),
            "unknown_usd": round(sum(r.unknown_usd for r in self.rows), 4),
            "committed_usd": round(sum(r.committed_usd for r in self.rows), 4),
            "committed_today_usd": self.committed(day),
        }


def fold_spend(groups: list[tuple[str, str, str, str, int, float, float]]) -> list[SpendRow]:
    """Ledger sums grouped by (day, provider, model, status), each ``(…, count, amount, estimate)`` → one row
    per (day, provider, model), newest first."""
    acc: dict[tuple[str, str, str], dict[str, float]] = {}
    for day, provider, model, status, count, amount, estimate in groups:
        zero = {s.value: 0.0 for s in LedgerStatus} | {"n": 0, "released": 0, "spent_estimate": 0.0}
        slot = acc.setdefault((day, provider, model), zero)
        slot[status] += amount
        slot["n"] += count
        if status == L.RELEASED:
            slot["released"] += count
        if status == L.SPENT:
            slot["spent_estimate"] += estimate
    rows = [
        SpendRow(
            day,
            provider,
            model,
            int(v["n"]),
            round(v[L.SPENT], 4),
            round(v[L.RESERVED], 4),
            round(v[L.UNKNOWN], 4),
            int(v["released"]),
            round(v["spent_estimate"], 4),
        )
        for (day, provider, model), v in acc.items()
    ]
    rows.sort(key=lambda r: (r.day, r.provider, r.model), reverse=True)
    return rows
