"""Extending a video (Veo 3.1, Gemini Omni): which inputs can be extended, and how each is sent.

The rules live here once, for the CLI's ``--extend`` and the agent's ``extend_video`` alike, and are checked
before anything is paid:

* a video of a resolution the extending model takes (the catalog's ``extension_resolutions``: 720p, i.e.
  1280x720 or 720x1280, on Veo; any of its own on Gemini Omni, which keeps it), and one no longer than the
  offer that extends it takes (``max_extension_input_s``: 141 s on Veo 3.1, 8 s on fal, 30 s on Omni), checked
  by :func:`check_fits` once the request is planned; the output is 8 s (the catalog checks the request side
  too: ``extension_resolutions``, ``needs_8s``); a local MP4, whose extending model is not known yet, is held
  to Veo's 720p;
* a previous job (``job_…``) is extended from the provider's own copy while the provider keeps it (its
  ``retention_days`` in the catalog, less a safety margin), else from the saved MP4;
* a provider whose offers carry ``extension_input`` (Kie: ``kie-task:``) extends only its own tasks, by id;
* a model whose offer carries ``extension_reference`` (Omni: ``omni-interaction:``) continues its own earlier
  operation by reference when it runs where the source job ran: nothing is uploaded or downloaded;
* the Gemini API extends only videos it still holds, by URI: never a local file;
* a local MP4 is probed (resolution, length, integrity) before it is sent anywhere.

The source also says what the continuation should keep: the aspect ratio, the resolution, the provider that
holds the video, and the model when it can extend.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veokit.engine.runner import catalog_provider
from veokit.errors import InvalidRequest
from veokit.media.probe import CorruptMediaError, probe_mp4
from veokit.models.catalog import Catalog, Offer
from veokit.models.job import Job, JobState, utcnow
from veokit.models.request import GenerateRequest, VideoInput

LENGTH_TOLERANCE_S = 0.5  # container durations round; a 141.2 s file is a 141 s video
RETENTION_MARGIN = dt.timedelta(minutes=10)  # a copy about to expire may be gone by the time the provider looks
EXTENDABLE_SIZES = {(1280, 720): "16:9", (720, 1280): "9:16"}
JOB_PREFIX = "job_"


@dataclass(frozen=True)
class ExtensionSource:
    """The video to extend, as it will be sent, and what the continuation keeps from it."""

    video: VideoInput
    aspect_ratio: str | None = None  # the source's, when known
    resolution: str | None = None  # the source's, when the extending model keeps it (Omni); else 720p
    provider: str | None = None  # the provider that holds the source (a job's), when the video is theirs
    model: str | None = None  # the source job's model, when it can extend
    job_id: str | None = None
    duration_s: float | None = None  # the source's length, when known (a job's video, a probed file)
    field: str = "video"  # the input's name in errors


def is_job_id(text: str) -> bool:
    return text.startswith(JOB_PREFIX) and "/" not in text and "://" not in text


def from_uri(uri: str) -> ExtensionSource:
    """A provider URI (gs://, a Gemini file URI, an https URL, ``kie-task://ID``); the catalog checks which
    provider can take it when the request is planned."""
    return ExtensionSource(VideoInput(uri=uri))


def from_file(path: str | Path, *, field: str = "video") -> ExtensionSource:
    """A local MP4, probed before anything is sent: it must be a complete 720p video Veo can extend."""
    p = Path(path).expanduser()
    video = VideoInput.from_path(p)  # existence and size, with their own field-named errors
    try:
        probe = probe_mp4(p)
    except CorruptMediaError as exc:
        raise InvalidRequest(f"{field}: {p.name} is not a complete MP4 video ({exc.reason})", field=field) from None
    aspect = EXTENDABLE_SIZES.get((probe.width, probe.height))
    if aspect is None:
        raise InvalidRequest(
            f"{field}: {p.name} is {probe.width}x{probe.height}; Veo extends only 720p videos (1280x720 or 720x1280)",
            field=field,
            allowed=["1280x720", "720x1280"],
        )
    return ExtensionSource(video, aspect_ratio=aspect, duration_s=probe.duration_s, field=field)


def from_job(
    source: Job,
    catalog: Catalog,
    *,
    index: int = 0,
    provider: str | None = None,
    now: dt.datetime | None = None,
    field: str = "video",
) -> ExtensionSource:
    """One video of a succeeded job, extended on ``provider`` (default: the job's own)."""
    if source.state is not JobState.SUCCEEDED:
        raise InvalidRequest(
            f"{field}: job {source.id} is {source.state.value}; only a succeeded job's video can be extended",
            field=field,
        )
    if not 0 <= index < len(source.results):
        raise InvalidRequest(
            f"video_index: {index} is out of range (allowed: 0 to {len(source.results) - 1})",
            field="video_index",
            allowed=list(range(len(source.results))),
        )
    result, req = source.results[index], source.request
    target = provider or source.provider
    offer = catalog.find(catalog_provider(source.provider), source.model)
    model = source.model if offer and "extension" in offer.features else None
    resolution = str(req.get("resolution", "720p"))
    # The model that will extend decides which resolutions it takes; without one (the source's cannot extend),
    # the continuation runs on a Veo model, which takes 720p.
    allowed = offer.extension_resolutions if offer is not None and model is not None else ["720p"]
    aspect: str | None
    if allowed is None:  # any of the model's own resolutions, kept
        aspect = "16:9" if result.width >= result.height else "9:16"
    else:
        aspect = EXTENDABLE_SIZES.get((result.width, result.height))
        if aspect is None or resolution not in allowed:
            raise InvalidRequest(
                f"{field}: job {source.id} is {resolution} ({result.width}x{result.height}); "
                f"Veo extends only {', '.join(allowed)} videos",
                field=field,
                allowed=list(allowed),
            )
    video = _video_of(source, result.remote_uri, Path(result.path), target, catalog, now or utcnow(), field)
    return ExtensionSource(
        video,
        aspect_ratio=aspect,
        resolution=resolution if allowed is None else None,
        provider=target,
        model=model,
        job_id=source.id,
        duration_s=result.duration_s,
        field=field,
    )


def _video_of(
    source: Job, remote_uri: str | None, path: Path, target: str, catalog: Catalog, now: dt.datetime, field: str
) -> VideoInput:
    same = catalog_provider(target) == catalog_provider(source.provider)
    prefix = next((o.extension_input for o in catalog.models_for(catalog_provider(target)) if o.extension_input), None)
    if prefix is not None:  # this provider extends only its own tasks, by id
        if not same or not source.operation_name:
            raise InvalidRequest(
                f"{field}: {target} extends only videos it made; job {source.id} ran on {source.provider}",
                field=field,
            )
        return VideoInput(uri=f"{prefix}//{source.operation_name}")
    made_by = catalog.find(catalog_provider(source.provider), source.model)
    reference = made_by.extension_reference if made_by is not None else None
    if reference is not None and same and source.operation_name:
        return VideoInput(uri=f"{reference}//{source.operation_name}")  # the provider continues its own operation
    kept_until = (source.finished_at or source.created_at) + dt.timedelta(
        days=catalog.retention_days(catalog_provider(source.provider))
    )
    if same and remote_uri and now < kept_until - RETENTION_MARGIN:
        return VideoInput(uri=remote_uri)
    if not catalog.providers.get(catalog_provider(target), {}).get("extends_uploads", True):
        held = f"its copy of {source.id} expired on {kept_until:%Y-%m-%d %H:%M} UTC" if same else "it did not make it"
        raise InvalidRequest(
            f"{field}: {target} extends only videos it still holds, and {held}",
            field=field,
        )
    if not path.is_file():
        raise InvalidRequest(
            f"{field}: the saved file of job {source.id} ({path}) no longer exists, and the provider's copy is gone",
            field=field,
        )
    return VideoInput.from_path(path)


def check_fits(source: ExtensionSource, offer: Offer) -> None:
    """The source is no longer than ``offer`` (the planned model on the planned provider) extends."""
    limit = offer.max_extension_input_s
    if source.duration_s is not None and source.duration_s > limit + LENGTH_TOLERANCE_S:
        raise InvalidRequest(
            f"{source.field}: the video is {source.duration_s:.0f} s; {offer.model} on {offer.provider} extends "
            f"videos of at most {limit:g} s",
            field=source.field,
            allowed=[limit],
        )


def extension_request(source: ExtensionSource, **fields: Any) -> GenerateRequest:
    """The continuation request: ``fields`` as for :meth:`GenerateRequest.build`, with the source's video, its
    aspect ratio (a different one is an error naming ``aspect_ratio``), and its model unless one is given.
    Resolution and duration default to what an extension is: the source's resolution where the model keeps it,
    else 720p; 8 s."""
    aspect = fields.get("aspect_ratio")
    if aspect is not None and source.aspect_ratio is not None and aspect != source.aspect_ratio:
        raise InvalidRequest(
            f"aspect_ratio: the video to extend is {source.aspect_ratio}; a continuation keeps its aspect ratio",
            field="aspect_ratio",
            allowed=[source.aspect_ratio],
        )
    fields["aspect_ratio"] = aspect or source.aspect_ratio or "16:9"
    fields["model"] = fields.get("model") or source.model
    fields["resolution"] = fields.get("resolution") or source.resolution or "720p"
    fields["duration_seconds"] = fields.get("duration_seconds") or 8
    return GenerateRequest.build(video=source.video, **fields)
