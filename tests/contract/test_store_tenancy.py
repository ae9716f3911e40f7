"""The store contract for the HTTP service's tenants (veokit.store.tenancy): keys, owned videos, admission
limits and the webhook outbox, on memory, SQLite and PostgreSQL alike."""

# The backends' fixtures come from the main contract module; ruff reads the parameters naming them as
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from veokit.errors import JobNotFound
from veokit.models.job import Job, JobState, utcnow
from veokit.store.base import JobStore
from veokit.store.budget import BudgetExceeded
from veokit.store.tenancy import (
    ApiKey,
    IdempotencyConflict,
    KeyLimits,
    KeyNameError,
    Ownership,
    TooManyInFlight,
    hash_secret,
    new_key_id,
    new_secret,
)

from .test_store_contract import T0, Opener, advance, make_job, opener, store  # noqa: F401

S = JobState
DAY = T0.date().isoformat()


def key(name: str, **kw: Any) -> tuple[ApiKey, str]:
    secret = new_secret()
    return (
        ApiKey(
            id=new_key_id(),
            name=name,
            key_hash=hash_secret(secret),
            key_prefix=secret[:8],
            created_at=utcnow(),
            **kw,
        ),
        secret,
    )


async def owned(store: JobStore, k: ApiKey, n: int = 1, **kw: Any) -> list[Job]:
    base = utcnow()
    made = []
    for i in range(n):
        job, created = await store.create_owned(
            make_job(created_at=base + dt.timedelta(milliseconds=i), updated_at=base, **kw),
            Ownership(k.id, k.name, notify=k.webhook_url is not None),
        )
        assert created
        made.append(job)
    return made


async def test_keys_are_found_by_their_secrets_hash_until_revoked(store: JobStore) -> None:
    a, secret = key("alice", budget_daily_usd=5.0, max_in_flight=2, webhook_url="https://hooks.example/a")
    assert await store.add_key(a) == a
    assert await store.key_by_hash(hash_secret(secret)) == a
    assert await store.key_by_hash(hash_secret(secret + "x")) is None
    with pytest.raises(KeyNameError, match="already exists"):
        await store.add_key(key("alice")[0])
    b, _ = key("bob")
    await store.add_key(b)
    assert [k.name for k in await store.list_keys()] == ["alice", "bob"]
    revoked = await store.revoke_key("alice", now=T0)
    assert revoked.revoked_at == T0 and not revoked.active
    assert (await store.revoke_key("alice")).revoked_at == T0  # idempotent: the first time stands
    assert await store.key_by_hash(hash_secret(secret)) is None
    with pytest.raises(KeyNameError, match="no key named"):
        await store.revoke_key("carol")


async def test_a_key_sees_only_its_own_videos_newest_first_with_a_cursor(store: JobStore) -> None:
    a, b = key("a")[0], key("b")[0]
    await store.add_key(a)
    await store.add_key(b)
    mine = await owned(store, a, 5)
    theirs = await owned(store, b, 2)
    await store.create(make_job())  # a job of the CLI: nobody's over HTTP
    assert [j.id for j in await store.list_owned(a.id, limit=10)] == [j.id for j in reversed(mine)]
    page = await store.list_owned(a.id, limit=2)
    assert [j.id for j in page] == [mine[4].id, mine[3].id]
    page = await store.list_owned(a.id, after=page[-1].id, limit=2)
    assert [j.id for j in page] == [mine[2].id, mine[1].id]
    assert [j.id for j in await store.list_owned(a.id, after=mine[1].id, ascending=True)] == [
        mine[2].id,
        mine[3].id,
        mine[4].id,
    ]
    assert [j.id for j in await store.list_owned(a.id, after=theirs[0].id, limit=10)] == [
        j.id for j in reversed(mine)
    ]  # a cursor that is not this key's is ignored, not followed
    assert (await store.get_owned(a.id, mine[0].id)).id == mine[0].id
    for other, job in ((b.id, mine[0]), (a.id, theirs[0])):
        with pytest.raises(JobNotFound):
            await store.get_owned(other, job.id)
        with pytest.raises(JobNotFound):
            await store.delete_owned(other, job.id)


async def test_a_deleted_video_is_gone_for_its_key_but_its_job_and_cost_remain(store: JobStore) -> None:
    a = key("a")[0]
    await store.add_key(a)
    [job] = await owned(store, a)
    assert (await store.delete_owned(a.id, job.id, now=T0)).id == job.id
    with pytest.raises(JobNotFound):
        await store.get_owned(a.id, job.id)
    with pytest.raises(JobNotFound):
        await store.delete_owned(a.id, job.id)
    assert await store.list_owned(a.id) == []
    assert (await store.get(job.id)).id == job.id  # the operator's record stays


async def test_an_idempotency_key_returns_the_same_job_and_refuses_another_body(store: JobStore) -> None:
    a, b = key("a")[0], key("b")[0]
    await store.add_key(a)
    await store.add_key(b)
    first, created = await store.create_owned(make_job(), Ownership(a.id, "a", "idem-1", "hash-1"))
    assert created
    again, created = await store.create_owned(make_job(), Ownership(a.id, "a", "idem-1", "hash-1"))
    assert (again.id, created) == (first.id, False)
    with pytest.raises(IdempotencyConflict, match="different request"):
        await store.create_owned(make_job(), Ownership(a.id, "a", "idem-1", "hash-2"))
    other, created = await store.create_owned(make_job(), Ownership(b.id, "b", "idem-1", "hash-2"))
    assert created and other.id != first.id  # keys are separate namespaces
    assert len(await store.list_owned(a.id)) == 1


async def test_the_in_flight_cap_refuses_without_writing_and_frees_as_jobs_end(store: JobStore) -> None:
    a = key("a")[0]
    await store.add_key(a)
    limits = KeyLimits(max_in_flight=2)
    jobs = [(await store.create_owned(make_job(), Ownership(a.id, "a"), limits=limits))[0] for _ in range(2)]
    with pytest.raises(TooManyInFlight, match="2 video"):
        await store.create_owned(make_job(), Ownership(a.id, "a"), limits=limits)
    assert len(await store.list_owned(a.id)) == 2
    await store.transition(jobs[0].id, expect=S.QUEUED, to=S.CANCELLED, cost_usd=0.0)
    assert (await store.key_usage(a.id)).in_flight == 1
    await store.create_owned(make_job(), Ownership(a.id, "a"), limits=limits)


async def test_the_daily_budget_counts_the_ledger_and_queued_estimates_of_this_key_only(store: JobStore) -> None:
    a, b = key("a")[0], key("b")[0]
    await store.add_key(a)
    await store.add_key(b)
    limits = KeyLimits(daily_usd=5.0)
    first, _ = await store.create_owned(make_job(estimate_usd=2.0), Ownership(a.id, "a"), limits=limits, now=T0)
    first = (await store.begin_submit(first.id, now=T0)).job  # reserved 2.0 in the ledger
    await store.create_owned(make_job(estimate_usd=2.0), Ownership(a.id, "a"), limits=limits, now=T0)  # queued 2.0
    await owned(store, b, 3, estimate_usd=2.0)  # another key's spending is not this key's
    usage = await store.key_usage(a.id, now=T0)
    assert (usage.day, usage.committed_usd, usage.queued_usd, usage.in_flight) == (DAY, 2.0, 2.0, 2)
    with pytest.raises(BudgetExceeded, match="daily budget of \\$5.00") as info:
        await store.create_owned(make_job(estimate_usd=1.5), Ownership(a.id, "a"), limits=limits, now=T0)
    assert (info.value.cap, info.value.committed_usd) == ("key", 4.0)
    assert len(await store.list_owned(a.id)) == 2
    await advance(store, first, S.RUNNING, S.FAILED)  # a failure is not billed: its reservation is released
    await store.create_owned(make_job(estimate_usd=1.5), Ownership(a.id, "a"), limits=limits, now=T0)
    tomorrow = T0 + dt.timedelta(days=1)
    assert (await store.key_usage(a.id, now=tomorrow)).committed_usd == 0.0


async def test_concurrent_creates_of_one_key_never_pass_its_cap_together(opener: Opener) -> None:
    stores = [await opener() for _ in range(4)]
    a = key("a")[0]
    await stores[0].add_key(a)
    limits = KeyLimits(max_in_flight=3)

    async def try_create(s: JobStore) -> bool:
        try:
            await s.create_owned(make_job(), Ownership(a.id, "a"), limits=limits)
        except TooManyInFlight:
            return False
        return True

    results = await asyncio.gather(*(try_create(stores[i % 4]) for i in range(12)))
    assert sum(results) == 3
    assert len(await stores[0].list_owned(a.id)) == 3


async def test_webhooks_are_due_once_the_job_ends_leased_retried_and_settled(store: JobStore) -> None:
    hooked, quiet = key("hooked", webhook_url="https://hooks.example/h")[0], key("quiet")[0]
    await store.add_key(hooked)
    await store.add_key(quiet)
    [job] = await owned(store, hooked)
    [silent] = await owned(store, quiet)
    assert await store.due_webhooks(lease_s=60, now=T0) == []  # not finished yet
    for j in (job, silent):
        await store.transition(j.id, expect=S.QUEUED, to=S.CANCELLED, cost_usd=0.0)
    [due] = await store.due_webhooks(lease_s=60, now=T0)
    assert (due.job.id, due.job.state, due.key.id, due.attempt) == (job.id, S.CANCELLED, hooked.id, 1)
    assert await store.due_webhooks(lease_s=60, now=T0 + dt.timedelta(seconds=59)) == []  # leased to its deliverer
    [again] = await store.due_webhooks(lease_s=60, now=T0 + dt.timedelta(seconds=61))  # that deliverer died
    assert again.attempt == 2
    await store.webhook_result(job.id, delivered=False, error="503", retry_at=T0 + dt.timedelta(seconds=300))
    assert await store.due_webhooks(lease_s=60, now=T0 + dt.timedelta(seconds=299)) == []
    [third] = await store.due_webhooks(lease_s=60, now=T0 + dt.timedelta(seconds=300))
    assert third.attempt == 3
    await store.webhook_result(job.id, delivered=True)
    assert await store.due_webhooks(lease_s=60, now=T0 + dt.timedelta(days=1)) == []
    await store.webhook_result(job.id, delivered=False, retry_at=T0)  # a late result changes nothing
    assert await store.due_webhooks(lease_s=60, now=T0 + dt.timedelta(days=1)) == []


async def test_counts_are_jobs_by_state_and_provider(store: JobStore) -> None:
    for provider in ("vertex", "vertex", "fal"):
        await store.create(make_job(provider=provider))
    [done] = [await store.create(make_job(provider="fal"))]
    await store.transition(done.id, expect=S.QUEUED, to=S.CANCELLED, cost_usd=0.0)
    assert await store.counts() == {(S.QUEUED, "vertex"): 2, (S.QUEUED, "fal"): 1, (S.CANCELLED, "fal"): 1}
