"""Enqueueing a batch: every line planned first, then every line recorded, idempotently.

Planning all lines before recording any means a bad line 900 (a model that cannot do it, a price over the
per-job cap) leaves nothing half-enqueued; the error names the file and line of every bad one. Recording uses
each line's client key, so enqueueing the same file again creates nothing twice and answers with the jobs it made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from veokit import errors as E
from veokit.engine.runner import NewJob
from veokit.models.job import Job, JobState, utcnow
from veokit.service import output_dir
from veokit.service.batch import BatchItem, bad_lines, gc_paused
from veokit.service.planning import Plan, PlanMemo

if TYPE_CHECKING:
    from veokit.service.client import VeoClient


@dataclass(frozen=True)
class EnqueuedBatch:
    """The batch's jobs, in line order, and what enqueueing it did."""

    jobs: list[Job]
    new: int  # recorded by this call
    reused: int  # of those, answered at once by an earlier identical seeded video ($0)
    estimate_usd: float  # if every video is delivered

    @property
    def already(self) -> int:
        """Lines whose job an earlier run had recorded."""
        return len(self.jobs) - self.new

    def describe(self, name: str) -> str:
        return (
            f"batch {name}: {len(self.jobs)} requests · {self.new - self.reused} enqueued now, "
            f"{self.already} already enqueued, {self.reused} answered by earlier identical videos · "
            f"estimate ${self.estimate_usd:.2f} if every video is delivered"
        )


async def enqueue_batch(
    client: VeoClient,
    items: list[BatchItem],
    *,
    provider: str | None = None,
    out_dir: Path | None = None,
    fresh: bool = False,
    source: str = "batch",
) -> EnqueuedBatch:
    """Plan every line (``source``:LINE names each bad one: :func:`~veokit.service.batch.bad_lines`), then record
    them all. ``provider`` and ``out_dir`` are the defaults for lines that name none."""
    with gc_paused():
        return await _enqueue(client, items, provider=provider, out_dir=out_dir, fresh=fresh, source=source)


def _writable(target: Path) -> E.VeokitError | None:
    try:
        output_dir.check_writable(target)
    except E.VeokitError as exc:
        return exc
    return None


async def _enqueue(
    client: VeoClient, items: list[BatchItem], *, provider: str | None, out_dir: Path | None, fresh: bool, source: str
) -> EnqueuedBatch:
    plans: list[tuple[BatchItem, Plan]] = []
    # Each distinct output directory is tried once, not once per line: what it answered.
    tried: dict[Path, E.VeokitError | None] = {}
    memo = PlanMemo(client.catalog, client.settings)  # lines alike but for their prompts are planned once
    bad: list[tuple[int, E.VeokitError]] = []
    for item in items:
        try:
            plan = client._plan_request(item.request, item.provider or provider, extending=item.extending, memo=memo)
            target = item.out_dir or out_dir or client.settings.out_dir
            if target not in tried:
                tried[target] = _writable(target)
            if (unwritable := tried[target]) is not None:
                raise unwritable.with_traceback(None)
        except E.VeokitError as exc:
            bad.append((item.line, exc))
            continue
        plans.append((item, plan))
    if bad:  # every bad line at once, and nothing enqueued
        raise bad_lines(source, bad)
    started = utcnow()
    # A line with a seed may be answered by an earlier identical video (a look-up and a file copy each): those go
    # one by one. Every other line is recorded in bulk, a thousand jobs per transaction, each job whole.
    one_by_one = {i for i, (_, plan) in enumerate(plans) if not fresh and plan.request.seed is not None}
    bulk = [i for i in range(len(plans)) if i not in one_by_one]
    default_dir = out_dir or client.settings.out_dir
    recorded = await client._engine.enqueue_many(
        [
            NewJob(
                plan.request,
                plan.provider,
                item.out_dir or default_dir,
                item.client_key,
                priced=(plan.offer, plan.estimate),
                fresh=fresh,
            )
            for item, plan in (plans[i] for i in bulk)
        ]
    )
    found: dict[int, Job] = {i: job for i, (job, _) in zip(bulk, recorded, strict=True)}
    for i in sorted(one_by_one):
        item, plan = plans[i]
        found[i] = await client.submit(plan, out_dir=item.out_dir or out_dir, client_key=item.client_key, fresh=fresh)
    jobs = [found[i] for i in range(len(plans))]
    new = [j for j in jobs if j.created_at >= started]
    return EnqueuedBatch(
        jobs=jobs,
        new=len(new),
        reused=sum(j.state is JobState.SUCCEEDED for j in new),
        estimate_usd=sum(p.estimate.total_usd for _, p in plans),
    )
