"""The HTTP service's tenants, shared by every store: API keys, the videos each key owns, and their webhooks.

A key is stored as the SHA-256 of its secret, never the secret itself (the secret is 256 random bits, so a
fast hash is enough: nothing can be guessed from it). A job made through the service is *owned* by one key:
its row in ``api_videos`` names the key, the ``Idempotency-Key`` the client sent with it (and the hash of the
body, so a replay with a different body is a conflict), whether it was deleted, and the state of its webhook.

Admission is atomic with the store: :meth:`~veokit.store.base.JobStore.create_owned` checks the key's daily
budget and its in-flight cap and records the job in one transaction, under a per-key lock, so concurrent
requests of one key can never pass a limit together. What a key has committed on a UTC day is what the cost
ledger holds for its jobs that day (spent, reserved, or of unknown outcome), plus the estimates of its jobs
still queued (nothing is reserved for them yet, but they will be).

Webhooks are an outbox: a video whose key has a webhook URL is recorded ``pending``; once its job has ended,
:meth:`~veokit.store.base.JobStore.due_webhooks` hands it to one deliverer at a time (a short lease on the row),
and :meth:`~veokit.store.base.JobStore.webhook_result` records the outcome (delivered, retry at, or given up).
Nothing is held in memory, so deliveries survive a restart and are made at least once.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from veokit.errors import IdempotencyConflict as IdempotencyConflict
from veokit.errors import KeyNameError as KeyNameError
from veokit.errors import TooManyInFlight as TooManyInFlight
from veokit.models.job import Job, JobState
from veokit.store.budget import EPSILON_USD, BudgetExceeded

S = JobState
KEY_PREFIX = "vk_"
MAX_NAME_LEN = 64
# Counted against a key's in-flight cap: recorded and not yet finished (a job needing attention is waiting
# for the operator, not using the provider).
IN_FLIGHT: tuple[JobState, ...] = (S.QUEUED, S.SUBMITTING, S.RUNNING, S.DOWNLOADING)


class WebhookStatus(enum.StrEnum):
    NONE = "none"  # the key has no webhook
    PENDING = "pending"  # to be delivered once the job has ended
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed; given up


class ApiKey(BaseModel):
    """A key of the HTTP service, as stored: its name, limits and webhook; ``key_hash`` is the secret's SHA-256."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    key_hash: str
    key_prefix: str  # the secret's first characters, to tell keys apart in lists
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None
    budget_daily_usd: float | None = None
    max_in_flight: int | None = None
    webhook_url: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Ownership:
    """Who a new job belongs to, and what makes creating it idempotent."""

    key_id: str
    key_name: str = ""  # for messages
    idempotency_key: str | None = None
    request_hash: str | None = (
        None  # the request's canonical hash: the same Idempotency-Key with another body is refused
    )
    notify: bool = False  # the key has a webhook: the job's end is to be delivered


@dataclass(frozen=True)
class KeyLimits:
    daily_usd: float | None = None
    max_in_flight: int | None = None

    @property
    def any(self) -> bool:
        return self.daily_usd is not None or self.max_in_flight is not None


@dataclass(frozen=True)
class KeyUsage:
    """A key's day (UTC): what its jobs committed in the ledger, its queued jobs' estimates, its jobs in flight."""

    day: str
    committed_usd: float
    queued_usd: float
    in_flight: int

    @property
    def total_usd(self) -> float:
        return round(self.committed_usd + self.queued_usd, 4)


@dataclass(frozen=True)
class WebhookDue:
    """A finished job whose webhook is to be delivered now; ``attempt`` counts from 1."""

    job: Job
    key: ApiKey
    attempt: int


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


def check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME_LEN or any(c.isspace() or not c.isprintable() for c in cleaned):
        raise KeyNameError(
            f"name: {name!r} is not a key name (1 to {MAX_NAME_LEN} printable characters, no spaces)", field="name"
        )
    return cleaned


def admit(key_name: str, limits: KeyLimits | None, usage: KeyUsage, estimate_usd: float) -> None:
    """Raise when one more job of ``estimate_usd`` would pass the key's in-flight cap or daily budget."""
    if limits is None:
        return
    if limits.max_in_flight is not None and usage.in_flight >= limits.max_in_flight:
        raise TooManyInFlight(
            f"key {key_name} already has {usage.in_flight} video(s) in flight, its limit; "
            "try again when one has finished (or cancel one)",
            limit=limits.max_in_flight,
        )
    cap = limits.daily_usd
    if cap is not None and usage.total_usd + estimate_usd > cap + EPSILON_USD:
        raise BudgetExceeded(
            f"budget: this video (${estimate_usd:.2f}) would take key {key_name} past its daily budget of "
            f"${cap:.2f}: ${usage.total_usd:.2f} is already spent, reserved or queued today ({usage.day} UTC)",
            cap="key",
            limit_usd=cap,
            committed_usd=usage.total_usd,
            estimate_usd=estimate_usd,
        )


def check_replay(existing_hash: str | None, owner: Ownership, job_id: str) -> None:
    """A create with an ``Idempotency-Key`` seen before: the same body gets the same job, another is refused."""
    if owner.request_hash is not None and existing_hash != owner.request_hash:
        raise IdempotencyConflict(
            f"Idempotency-Key {owner.idempotency_key!r} was already used for a different request ({job_id}); "
            "use a new key for a new request",
            field="Idempotency-Key",
        )
