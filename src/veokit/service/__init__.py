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

from veokit.engine.runner import Progress, ProgressFn
from veokit.engine.worker import Worker, WorkerConfig, WorkerStats
from veokit.models.job import Job, JobEvent, JobState, VideoResult
from veokit.service.assets import VARIANTS, asset
from veokit.service.batch import BatchItem, BatchStatus, budget_blocked, read_batch, summarise
from veokit.service.batch_enqueue import EnqueuedBatch
from veokit.service.client import VeoClient
from veokit.service.extension import ExtensionSource, extension_request
from veokit.service.film import FilmResult, FilmStatus, PickPreview
from veokit.service.instance import InstanceSlot
from veokit.service.key_films import KeyFilm, KeyFilms
from veokit.service.meters import Meters
from veokit.service.next_step import next_step, status_line
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
