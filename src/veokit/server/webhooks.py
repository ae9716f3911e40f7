"""Webhooks: ``video.completed`` and ``video.failed``, signed the Standard Webhooks way, delivered from the store.

The outbox is the store (:mod:`veokit.store.tenancy`): a video of a key with a webhook is recorded ``pending``,
and once its job has ended this loop takes it (a lease of ``LEASE_S`` on the row, so servers sharing a store
never send it together), POSTs the event and records the outcome. A 2xx is delivered; anything else is tried
again after ``VEOKIT_SERVER_WEBHOOK_BACKOFF_S`` x 4^(n-1) (at most 6 hours) up to
``VEOKIT_SERVER_WEBHOOK_ATTEMPTS`` times. Nothing lives only in memory: a restart resumes where it stood, and
delivery is at least once (a crash between the POST and its record sends it again; ``webhook-id`` is the
same every time, for the receiver to drop repeats).

Signature (Standard Webhooks; the ``openai`` SDK's ``client.webhooks.verify_signature`` checks it)::

    webhook-id: evt_…      webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}" with the key's secret>

The key's secret is ``whsec_<base64>``; the HMAC key is the decoded part.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import time

import httpx

from veokit.config import Settings
from veokit.models.job import Job, JobState, utcnow
from veokit.server.metrics import Metrics
from veokit.service import VeoClient, WebhookDue

log = logging.getLogger("veokit.server.webhooks")
LEASE_S = 60.0  # one delivery attempt's time to finish before another server may try it
TIMEOUT_S = 15.0
LOOK_EVERY_S = 1.0
MAX_BACKOFF_S = 6 * 3600.0
BATCH = 20


def event_id(job: Job) -> str:
    return "evt_" + job.id.removeprefix("job_")


def payload(job: Job) -> bytes:
    """The event body: the same bytes on every attempt (its time is the job's end, not the send)."""
    kind = "video.completed" if job.state is JobState.SUCCEEDED else "video.failed"
    doc = {
        "id": event_id(job),
        "object": "event",
        "type": kind,
        "created_at": int((job.finished_at or job.updated_at).timestamp()),
        "data": {"id": job.id},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class WebhookSender:
    def __init__(self, client: VeoClient, settings: Settings, metrics: Metrics) -> None:
        self.client = client
        self.settings = settings
        self.metrics = metrics
        self._http = httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)
        self._wake = asyncio.Event()

    async def aclose(self) -> None:
        await self._http.aclose()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                due = await self.client.tenants.due_webhooks(lease_s=LEASE_S, limit=BATCH)
            except Exception as exc:  # the store is away: nothing is lost, look again shortly
                log.warning("webhooks: cannot read the outbox (%s)", type(exc).__name__)
                due = []
            if due:
                await asyncio.gather(*(self.deliver(d) for d in due))
                continue
            self._wake.clear()
            if not stop.is_set():  # whoever sets ``stop`` wakes this wait too (``wake()``)
                await self.client.clock.wait(self._wake, LOOK_EVERY_S)

    async def deliver(self, due: WebhookDue) -> bool:
        job, key = due.job, due.key
        if key.webhook_url is None:  # cannot happen for a pending row; settle it rather than loop
            await self.client.tenants.webhook_result(job.id, delivered=False, error="the key has no webhook URL")
            return False
        body = payload(job)
        msg_id, stamp = event_id(job), int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "veokit-webhooks",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(self.client.tenants.webhook_secret(key), msg_id, stamp, body),
        }
        error: str | None = None
        try:
            response = await self._http.post(key.webhook_url, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        if error is None:
            self.metrics.webhooks.labels("delivered").inc()
            await self.client.tenants.webhook_result(job.id, delivered=True)
            return True
        give_up = due.attempt >= self.settings.server_webhook_attempts
        self.metrics.webhooks.labels("gave_up" if give_up else "failed").inc()
        delay = min(MAX_BACKOFF_S, self.settings.server_webhook_backoff_s * 4 ** (due.attempt - 1))
        retry_at = None if give_up else utcnow() + dt.timedelta(seconds=delay)
        log.warning(
            "webhook %s of %s for key %s: attempt %d failed (%s); %s",
            msg_id,
            job.id,
            key.name,
            due.attempt,
            error,
            "giving up" if give_up else f"again in {delay:.0f} s",
        )
        await self.client.tenants.webhook_result(job.id, delivered=False, error=error, retry_at=retry_at)
        return False
