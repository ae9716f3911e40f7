"""Lease rules shared by every store: which jobs can be claimed, and for how long.

A worker *claims* a job by taking its lease: ``lease_owner`` names the worker, ``lease_expires_at`` says until
when, and ``lease_token`` goes up by one. Every write the worker then makes passes that token as ``fence``;
once anyone else claims the job (after the lease expired) the token differs and the late write raises
:class:`~veokit.errors.LeaseLost` without changing anything. Heartbeats (:meth:`renew`) push the expiry
forward without changing the token, so a lease can be short (seconds) whatever the job's length, and a dead
worker's jobs are picked up by the next claim: recovery happens inside the claim, with no separate reaper.

``lease_expires_at`` also serves as "not before": a released job with a back-off is claimable only once it
has passed. Leases compare wall clocks; keep machines NTP-synchronised (skew well under the lease length).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import socket

from veokit.models.job import JobState, utcnow
from veokit.store.codec import as_utc

S = JobState
# States a worker can advance. A job found in `submitting` is claimed too: the engine turns it into
# `needs_attention` instead of submitting it again.
CLAIMABLE: tuple[JobState, ...] = (S.QUEUED, S.SUBMITTING, S.RUNNING, S.DOWNLOADING)
MAX_OWNER_LEN = 200


def check_owner(owner: str) -> None:
    if not owner or len(owner) > MAX_OWNER_LEN:
        raise ValueError(f"lease owner must be 1 to {MAX_OWNER_LEN} characters, got {owner!r}")


def check_seconds(name: str, seconds: float, *, allow_zero: bool = False) -> None:
    ok = math.isfinite(seconds) and (seconds >= 0 if allow_zero else seconds > 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {seconds}")


def check_claim(owner: str, lease_s: float, limit: int) -> None:
    check_owner(owner)
    check_seconds("lease_s", lease_s)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")


def current_time(now: dt.datetime | None) -> dt.datetime:
    """The time lease arithmetic uses: the caller's (tests inject one) or the wall clock, in UTC."""
    return utcnow() if now is None else as_utc(now, "now")


def until(now: dt.datetime, seconds: float) -> dt.datetime:
    return now + dt.timedelta(seconds=seconds)


def takeover_message(previous_owner: str | None, owner: str) -> str:
    """The event recorded when a claim takes a job whose holder stopped renewing (the recovery path)."""
    return f"lease of {previous_owner} expired; claimed by {owner}"


def owner_is_dead(owner: str) -> bool:
    """True only when ``owner`` (``host:pid:…``, see :func:`veokit.engine.worker.worker_id`) names a process on
    this machine that no longer exists: its lease can be taken over at once instead of waiting for expiry.
    Owners on other machines are never judged: only their leases' expiry says they are gone."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by another user
        return False
    return False
