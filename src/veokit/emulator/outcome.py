"""How an operation ends: a video, an RAI block, an internal error, or a deliberately huge video.

Tests pick the outcome deterministically with a prompt marker (``[emulate:filtered]``,
``[emulate:failed]``, ``[emulate:large:<bytes>]``) or an admin fault rule of kind ``outcome``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

OutcomeKind = Literal["ok", "filtered", "failed", "large"]

# Wording and support-code shape as Veo reports them (the audio false positive is the common one).
DEFAULT_FILTER_REASONS = (
    "Video generation was blocked because it may violate our policies on audio. Support code: 29310472",
)
DEFAULT_FAILURE = "Video generation failed due to an internal error. Please try again later."
DEFAULT_LARGE_BYTES = 500_000_000

_MARKER = re.compile(r"\[emulate:(filtered|failed|large)(?::(\d+))?\]")


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind = "ok"
    min_bytes: int = 0  # for "large": the video is at least this big
    reasons: tuple[str, ...] = DEFAULT_FILTER_REASONS
    message: str = DEFAULT_FAILURE

    @classmethod
    def from_prompt(cls, prompt: str) -> Outcome:
        m = _MARKER.search(prompt)
        if m is None:
            return cls()
        kind: OutcomeKind = m.group(1)  # type: ignore[assignment]  # regex alternatives are the literals
        if kind == "large":
            return cls(kind, min_bytes=int(m.group(2) or DEFAULT_LARGE_BYTES))
        return cls(kind)
