"""The job as a user sees it: one JSON-able shape for every surface (CLI ``--json``, agent tools, HTTP).

:func:`job_view` is the job record with its request's inputs summarised: an image is its type, name, size and
(once stored by reference) SHA-256, a video to extend its URI or its size; never the bytes themselves (a 500 MB
extension source must not reach a terminal, a model's context or an HTTP response). Surfaces add their own
presentation on top (the agent adds hints for the model) instead of building their own view.
"""

from __future__ import annotations

from typing import Any

from veokit.models.job import Job, JobEvent, VideoResult


def job_view(job: Job, events: list[JobEvent] | None = None) -> dict[str, Any]:
    """The job, its request with inputs summarised, its results; with ``events``, its history too."""
    view = job.model_dump(mode="json", exclude={"request"})
    view["request"] = request_view(job.request)
    view["results"] = [result_view(r) for r in job.results]
    if events is not None:
        view["events"] = [e.model_dump(mode="json") for e in events]
    return view


def result_view(result: VideoResult) -> dict[str, Any]:
    """One saved video: where it is and what a probe of it found."""
    return result.model_dump(mode="json")


def request_view(request: dict[str, Any]) -> dict[str, Any]:
    """A stored request (``GenerateRequest`` as JSON) with every input replaced by a summary."""
    view = dict(request)
    for key in ("image", "last_frame"):
        if view.get(key):
            view[key] = _image(view[key])
    if view.get("reference_images"):
        view["reference_images"] = [_image(r) for r in view["reference_images"]]
    if view.get("video"):
        video = view["video"]
        size, sha256 = _content_of(video)
        view["video"] = {"uri": video.get("uri"), "bytes": size is not None, "size_bytes": size, "sha256": sha256}
    return view


def _image(image: dict[str, Any]) -> dict[str, Any]:
    size, sha256 = _content_of(image)
    return {"mime_type": image.get("mime_type"), "name": image.get("name"), "size_bytes": size, "sha256": sha256}


def _content_of(item: dict[str, Any]) -> tuple[int | None, str | None]:
    """Size and SHA-256 of an input's bytes, as far as they are known without reading them: a stored reference
    (``blob``) carries both; inline base64 text gives its size by its length (decoding a 500 MB video to count
    it would make listing jobs slow)."""
    blob = item.get("blob")
    if isinstance(blob, dict):
        return blob.get("size"), blob.get("sha256")
    value = item.get("data")
    if value is None:
        return None, None
    if isinstance(value, bytes):
        return len(value), None
    text = str(value)
    return len(text) * 3 // 4 - text[-2:].count("="), None


def percent(elapsed_s: float, remaining_s: float | None, *, done: bool) -> float:
    """A progress figure that only approaches 100 until the job really is done."""
    if done:
        return 100.0
    # Past the expected time the job is "any moment now": keep creeping towards 100 instead of jumping back.
    left = max(remaining_s or 0.0, 0.1 * elapsed_s + 0.5)
    return round(min(99.0, 100.0 * elapsed_s / (elapsed_s + left)), 1)
