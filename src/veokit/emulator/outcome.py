"""How an operation ends: a video, an RAI block, an internal error, or a deliberately huge video.

Tests pick the outcome deterministically with a prompt marker (``[emulate:filtered]``,
``[emulate:failed]``, ``[emulate:large:<bytes>]``) or an admin fault rule of kind ``outcome``.

``[emulate:filtered:N]`` blocks only N of the request's samples: with ``sampleCount`` 4 and N 1, Google's answer
carries 3 videos *and* ``raiMediaFilteredCount`` 1 with its reasons (a partial result). N at or above the
sample count (or no N) blocks them all. Task-based resellers make one video per task, so for them any N blocks it.
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
    filtered: int | None = None  # for "filtered": how many samples are blocked (None: all of them)

    def blocked(self, samples: int) -> int:
        """How many of ``samples`` videos this outcome blocks."""
        if self.kind != "filtered":
            return 0
        return samples if self.filtered is None else min(self.filtered, samples)

    @classmethod
    def from_prompt(cls, prompt: str) -> Outcome:
        m = _MARKER.search(prompt)
        if m is None:
            return cls()
        kind: OutcomeKind = m.group(1)  # type: ignore[assignment]  # regex alternatives are the literals
        if kind == "large":
            return cls(kind, min_bytes=int(m.group(2) or DEFAULT_LARGE_BYTES))
        if kind == "filtered" and m.group(2):
            return cls(kind, filtered=max(1, int(m.group(2))))
        return cls(kind)
