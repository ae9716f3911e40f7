"""veokit's service layer: :class:`VeoClient` and the types its callers need.

Surfaces (the CLI, the agent tools, an HTTP service) and ``bench/`` import from here (or the package root),
never from ``veokit.store`` or ``veokit.engine``: the client owns the store and the engine, and what a caller
may see of them is re-exported below. ``tests/unit/test_layering.py`` keeps it that way.

    client.py         VeoClient: plan, submit, run, resume, decide; workers, batches, costs
    planning.py       one plan(): provider (auto too), model, validation, estimate, limits
    extension.py      what can be extended and how it is sent      views.py    the job as a user sees it
    outcome.py        what a job's end means: the error it raises, a command's exit code
    next_step.py      what to do next about a job, as the exact command
    film.py           storyboards rendered as resumable graphs of jobs, stitched, with timeline and contact sheet
    key_films.py      an API key's films for the HTTP service: storyboards kept per key, renders in the background
    batch.py          batch files, batch status      batch_enqueue.py / follow.py   enqueue and follow a batch
    runtime.py        jobs running in the background, for surfaces whose calls are shorter than their jobs
    cancel.py         stopping a job, and the cost that stands     tenants.py  the HTTP service's keys and videos
    sync_client.py    the blocking facade             routing.py / providers.py / doctor.py / resilience.py
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veokit.lazy import lazy_exports

# Eager: the function shares its module's name, and importing the submodule later would otherwise leave the
# module, not the function, as ``veokit.service.next_step``.
from veokit.service.next_step import next_step, status_line

if TYPE_CHECKING:
    from veokit.engine.runner import Progress, ProgressFn
    from veokit.engine.worker import Worker, WorkerConfig, WorkerStats
    from veokit.models.job import Job, JobEvent, JobState, VideoResult
    from veokit.service.assets import VARIANTS, asset
    from veokit.service.batch import BatchItem, BatchStatus, budget_blocked, gc_paused, read_batch, summarise
    from veokit.service.batch_enqueue import EnqueuedBatch
    from veokit.service.client import VeoClient
    from veokit.service.extension import ExtensionSource, extension_request
    from veokit.service.film import FilmResult, FilmStatus, PickPreview
    from veokit.service.instance import InstanceSlot
    from veokit.service.key_films import KeyFilm, KeyFilms
    from veokit.service.meters import Meters
    from veokit.service.outcome import environment_fault, exit_code_for, job_error, raise_for_job
    from veokit.service.planning import Plan
    from veokit.service.routing import Candidate, Route
    from veokit.service.runtime import JobRuntime, Watch
    from veokit.service.sync_client import SyncVeoClient
    from veokit.service.tenants import NewKey, Tenants
    from veokit.service.views import job_view, request_view, result_view
    from veokit.store.budget import BudgetCaps, SpendSummary, budget_day
    from veokit.store.tenancy import (
        ApiKey,
        KeyUsage,
        WebhookDue,
        WebhookStatus,
    )
    from veokit.store.urls import redact_url

__all__ = [
    "VARIANTS",
    "ApiKey",
    "BatchItem",
    "BatchStatus",
    "BudgetCaps",
    "Candidate",
    "EnqueuedBatch",
    "ExtensionSource",
    "FilmResult",
    "FilmStatus",
    "InstanceSlot",
    "Job",
    "JobEvent",
    "JobRuntime",
    "JobState",
    "KeyFilm",
    "KeyFilms",
    "KeyUsage",
    "Meters",
    "NewKey",
    "PickPreview",
    "Plan",
    "Progress",
    "ProgressFn",
    "Route",
    "SpendSummary",
    "SyncVeoClient",
    "Tenants",
    "VeoClient",
    "VideoResult",
    "Watch",
    "WebhookDue",
    "WebhookStatus",
    "Worker",
    "WorkerConfig",
    "WorkerStats",
    "asset",
    "budget_blocked",
    "budget_day",
    "environment_fault",
    "exit_code_for",
    "extension_request",
    "gc_paused",
    "job_error",
    "job_view",
    "next_step",
    "raise_for_job",
    "read_batch",
    "redact_url",
    "request_view",
    "result_view",
    "status_line",
    "summarise",
]

# Each name is imported on first use (PEP 562), so importing one light part of the service layer (the CLI's
# start-up, `veokit --help`) does not load the engine, the store and SQLAlchemy with it.
_LAZY = {
    "ApiKey": "veokit.store.tenancy",
    "BatchItem": "veokit.service.batch",
    "BatchStatus": "veokit.service.batch",
    "BudgetCaps": "veokit.store.budget",
    "Candidate": "veokit.service.routing",
    "EnqueuedBatch": "veokit.service.batch_enqueue",
    "ExtensionSource": "veokit.service.extension",
    "FilmResult": "veokit.service.film",
    "FilmStatus": "veokit.service.film",
    "InstanceSlot": "veokit.service.instance",
    "Job": "veokit.models.job",
    "JobEvent": "veokit.models.job",
    "JobRuntime": "veokit.service.runtime",
    "JobState": "veokit.models.job",
    "KeyFilm": "veokit.service.key_films",
    "KeyFilms": "veokit.service.key_films",
    "KeyUsage": "veokit.store.tenancy",
    "Meters": "veokit.service.meters",
    "NewKey": "veokit.service.tenants",
    "PickPreview": "veokit.service.film",
    "Plan": "veokit.service.planning",
    "Progress": "veokit.engine.runner",
    "ProgressFn": "veokit.engine.runner",
    "Route": "veokit.service.routing",
    "SpendSummary": "veokit.store.budget",
    "SyncVeoClient": "veokit.service.sync_client",
    "Tenants": "veokit.service.tenants",
    "VARIANTS": "veokit.service.assets",
    "VeoClient": "veokit.service.client",
    "VideoResult": "veokit.models.job",
    "Watch": "veokit.service.runtime",
    "WebhookDue": "veokit.store.tenancy",
    "WebhookStatus": "veokit.store.tenancy",
    "Worker": "veokit.engine.worker",
    "WorkerConfig": "veokit.engine.worker",
    "WorkerStats": "veokit.engine.worker",
    "asset": "veokit.service.assets",
    "budget_blocked": "veokit.service.batch",
    "budget_day": "veokit.store.budget",
    "environment_fault": "veokit.service.outcome",
    "exit_code_for": "veokit.service.outcome",
    "extension_request": "veokit.service.extension",
    "gc_paused": "veokit.service.batch",
    "job_error": "veokit.service.outcome",
    "job_view": "veokit.service.views",
    "raise_for_job": "veokit.service.outcome",
    "read_batch": "veokit.service.batch",
    "redact_url": "veokit.store.urls",
    "request_view": "veokit.service.views",
    "result_view": "veokit.service.views",
    "summarise": "veokit.service.batch",
}


__getattr__ = lazy_exports(__name__, _LAZY)
