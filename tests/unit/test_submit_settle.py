"""Settling a submit whose outcome is unknown (engine/submits.py) when the provider's listing itself fails."""

from __future__ import annotations

import datetime as dt

import pytest

from veokit import errors as E
from veokit.engine import submits
from veokit.models.job import Job, JobState, new_job_id, utcnow
from veokit.models.request import GenerateRequest
from veokit.store.memory import MemoryJobStore

S = JobState
REQUEST = GenerateRequest(prompt="a heron lifting off a misty river", duration_seconds=4)


class FlakyListing:
    """A provider whose listing answers with ``failures`` first (raised in turn), then ``answer``."""

    name = "emulator"

    def __init__(self, failures: list[E.VeokitError], answer: list[str] | None) -> None:
        self.failures = failures
        self.answer = answer
        self.asked = 0

    async def find_submitted(self, request: GenerateRequest, *, since: dt.datetime) -> list[str] | None:
        self.asked += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.answer


async def mid_submit(store: MemoryJobStore) -> Job:
    now = utcnow()
    job = await store.create(
        Job(
            id=new_job_id(),
            state=S.QUEUED,
            provider="emulator",
            model="veo-3.1-fast-generate-001",
            request=REQUEST.model_dump(mode="json"),
            fingerprint="fp",
            out_dir="/tmp/out",
            estimate_usd=0.4,
            created_at=now,
            updated_at=now,
        )
    )
    return (await store.begin_submit(job.id)).job


async def settle(store: MemoryJobStore, job: Job, provider: FlakyListing, *, after_s: float) -> Job:
    async def request() -> GenerateRequest:
        return REQUEST

    began = (await store.submissions(job.id))[-1].started_at
    at = began + dt.timedelta(seconds=after_s)
    return await submits.settle(store, job, provider, request, call_over=True, now=at)  # type: ignore[arg-type]


async def test_a_listing_that_fails_for_now_is_asked_again_later_then_continues() -> None:
    store = MemoryJobStore()
    job = await mid_submit(store)
    provider = FlakyListing([E.ServerError("503 from the listing", provider="emulator")], ["operations/op-1"])
    with pytest.raises(E.SubmitInFlight) as later:
        await settle(store, job, provider, after_s=6)
    assert later.value.retry_after_s == submits.LOOKUP_RETRY_S and "listing failed for now" in later.value.message
    assert (await store.get(job.id)).state is S.SUBMITTING  # nothing decided, nothing sent
    done = await settle(store, job, provider, after_s=20)
    assert (done.state, done.operation_name, provider.asked) == (S.RUNNING, "operations/op-1", 2)


async def test_a_listing_that_keeps_failing_sets_the_job_aside_saying_so() -> None:
    store = MemoryJobStore()
    job = await mid_submit(store)
    provider = FlakyListing([E.ServerError("503 from the listing", provider="emulator")], [])
    done = await settle(store, job, provider, after_s=submits.LOOKUP_PATIENCE_S + 1)
    assert done.state is S.NEEDS_ATTENTION
    assert "listing kept failing" in (done.error or {})["message"] and "503 from the listing" in done.error["message"]


async def test_a_listing_refused_for_good_is_not_asked_again() -> None:
    store = MemoryJobStore()
    job = await mid_submit(store)
    provider = FlakyListing([E.AuthenticationError("401 on the listing", provider="emulator")], [])
    done = await settle(store, job, provider, after_s=6)
    assert done.state is S.NEEDS_ATTENTION and "listing was refused: 401 on the listing" in done.error["message"]
