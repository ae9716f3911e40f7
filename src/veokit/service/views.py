"""The job as a user sees it: one JSON-able shape for every surface (CLI ``--json``, agent tools, HTTP).

:func:`job_view` is the job record with its request's inputs summarised: an image is its type, name and size,
a video to extend its URI or the size of its bytes; never the bytes themselves (a 500 MB extension source must
not reach a terminal, a model's context or an HTTP response). Surfaces add their own presentation on top (the
agent adds hints for the model) instead of building their own view.
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
        size = _size_of(video.get("data"))
        view["video"] = {"uri": video.get("uri"), "bytes": size is not None, "size_bytes": size}
    return view


def _image(image: dict[str, Any]) -> dict[str, Any]:
    return {"mime_type": image.get("mime_type"), "name": image.get("name"), "size_bytes": _size_of(image.get("data"))}


def _size_of(value: Any) -> int | None:
    """The size of input bytes stored as base64 text, from the text's length: decoding a 500 MB video to
    count it would make listing jobs slow."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return len(value)
    text = str(value)
    return len(text) * 3 // 4 - text[-2:].count("=")
