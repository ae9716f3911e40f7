"""A film's edit as an OpenTimelineIO timeline (``.otio``), so an editor can take over where veokit stops.

One video track and one audio track, one clip per shot, named by the shot id, in film order. Each clip points
at the MP4 it plays (an extension chain's shots all point at the chain's final video, each with its own range:
see :mod:`veokit.models.film_plan`) and carries veokit's facts in ``metadata["veokit"]``: shot, take, prompt,
content address, price. A crossfade is an SMPTE dissolve centred on the cut: the clip before ends ``d/2`` early,
the clip after starts ``d/2`` late, and the dissolve spans ``d/2`` on either side using the media beyond those
points, so the timeline's length equals the stitched film's.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping

import opentimelineio as otio

from veokit.models.film_plan import VEO_FPS, Cut, FilmPlan

StrPath = str | os.PathLike[str]


def film_timeline(
    plan: FilmPlan,
    videos: Mapping[str, StrPath],
    *,
    durations: Mapping[str, float] | None = None,
    relative_to: StrPath | None = None,
    fps: int = VEO_FPS,
) -> otio.schema.Timeline:
    """The timeline of ``plan``'s edit. ``videos``: each shot's chosen take's file; ``durations``: their measured
    lengths (default: planned); ``relative_to``: write media paths relative to this folder (where the ``.otio``
    will live) instead of as absolute ``file://`` URLs."""
    cuts = plan.edit(durations)
    length = {s.id: float(s.video_seconds) for s in plan.shots}
    length.update(durations or {})
    timeline = otio.schema.Timeline(name=plan.title)
    timeline.global_start_time = otio.opentime.RationalTime(0, fps)
    for kind in (otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio):
        track = otio.schema.Track(name=kind, kind=kind)
        for k, cut in enumerate(cuts):
            fade_out = cuts[k + 1].crossfade_s if k + 1 < len(cuts) else 0.0
            if cut.crossfade_s:
                half = otio.opentime.RationalTime(_frames(cut.crossfade_s, fps) / 2, fps)
                track.append(
                    otio.schema.Transition(
                        name=f"dissolve into {cut.shot}",
                        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                        in_offset=half,
                        out_offset=half,
                    )
                )
            track.append(_clip(plan, cut, fade_out, videos, length[cut.source], relative_to, fps))
        timeline.tracks.append(track)
    return timeline


def write_timeline(timeline: otio.schema.Timeline, path: StrPath) -> None:
    """Write ``.otio`` (OpenTimelineIO's JSON) atomically."""
    target = pathlib.Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(otio.adapters.write_to_string(timeline, "otio_json"), "utf-8")
    os.replace(tmp, target)


def _clip(
    plan: FilmPlan,
    cut: Cut,
    fade_out: float,
    videos: Mapping[str, StrPath],
    source_seconds: float,
    relative_to: StrPath | None,
    fps: int,
) -> otio.schema.Clip:
    shot = plan.shot(cut.shot)
    start = _frames(cut.start_s, fps) + _frames(cut.crossfade_s, fps) / 2
    end = _frames(cut.end_s, fps) - _frames(fade_out, fps) / 2
    media = pathlib.Path(videos[cut.source]).resolve()
    url = os.path.relpath(media, pathlib.Path(relative_to).resolve()) if relative_to else media.as_uri()
    reference = otio.schema.ExternalReference(
        target_url=url,
        available_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, fps), otio.opentime.RationalTime(_frames(source_seconds, fps), fps)
        ),
    )
    return otio.schema.Clip(
        name=cut.shot,
        media_reference=reference,
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, fps), otio.opentime.RationalTime(end - start, fps)
        ),
        metadata={
            "veokit": {
                "shot": shot.id,
                "take": shot.pick,
                "source_shot": cut.source,
                "continuity": shot.continuity,
                "join": cut.join,
                "prompt": shot.prompt,
                "address": shot.chosen.address,
                "usd": shot.price_usd,
            }
        },
    )


def _frames(seconds: float, fps: int) -> int:
    return round(seconds * fps)
