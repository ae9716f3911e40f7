"""A job's input images and videos: put in the store's blobs when the job is recorded, read back to submit it.

The job row keeps the request with its inputs by reference (:class:`~veokit.models.request.StoredRequest`);
only the submit needs the bytes, and it reads them from the store, so any worker that can reach the
database can send the job, on this machine or another.
"""

from __future__ import annotations

from typing import Any

from veokit import errors as E
from veokit.models.job import Job
from veokit.models.request import INPUT_FIELDS, GenerateRequest, StoredRequest
from veokit.store.base import JobStore
from veokit.store.blobs import BlobCorrupt, BlobNotFound


async def record(store: JobStore, request: GenerateRequest) -> dict[str, Any]:
    """Put every input's bytes in the store (once per content: already stored ones are not sent again) and
    return the request as a job keeps it (``Job.request``). Call before creating the job, so that a job never
    refers to a missing blob."""
    for sha256, data in request.input_contents().items():
        await store.put_blob(data, sha256=sha256)
    return request.stored_json()


def stored_request(job: Job) -> StoredRequest:
    """The job's request without its inputs' bytes: everything but the provider call needs only this."""
    return StoredRequest.model_validate(job.request)


async def load(store: JobStore, job: Job) -> GenerateRequest:
    """The request to send for ``job``, its inputs read back from the store.

    A missing or damaged input is :class:`~veokit.errors.InvalidRequest` (nothing can be sent for this job).
    """
    if not any(job.request.get(name) for name in INPUT_FIELDS):
        # Both forms are the same document when there are no inputs: skip a conversion on every submit.
        return GenerateRequest.model_validate(job.request)
    stored = stored_request(job)
    contents: dict[str, bytes] = {}
    for ref in stored.blobs():
        try:
            contents[ref.sha256] = await store.get_blob(ref.sha256)
        except (BlobNotFound, BlobCorrupt) as exc:
            raise E.InvalidRequest(
                f"job {job.id}: an input ({ref.size} bytes, sha256 {ref.sha256[:12]}…) cannot be read from the "
                f"job store ({exc}); nothing was sent. Enqueue the request again",
                field="request",
            ) from None
    return stored.loaded(contents)
