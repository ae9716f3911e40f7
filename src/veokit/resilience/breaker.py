"""Circuit breaker per provider: stop calling a provider that keeps failing, probe it now and then.

closed ──(threshold consecutive transient failures)──► open ──(cooldown elapsed)──► half-open
  ▲                                                                                     │
  └────────────────────────── probe succeeds ◄───────────────────────────────┘ probe fails → open

Only transient failures count (5xx, network, timeouts): an invalid request or a content filter says
nothing about the provider's health, and a 429 is pacing, handled by the rate gate.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from veokit import errors as E
from veokit.resilience.clock import Clock


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def counts_as_failure(err: BaseException) -> bool:
    return isinstance(err, E.ServerError | E.NetworkError) and not isinstance(err, E.SubmitOutcomeUnknown)


@dataclass
class CircuitBreaker:
    provider: str
    clock: Clock
    threshold: int = 5
    cooldown_s: float = 30.0
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    # What the last counted failure said, so "circuit open" tells the user why (a proxy, DNS, a 503...).
    last_failure: str = ""
    _probing: bool = field(default=False, repr=False)

    def allow(self) -> None:
        """Raise :class:`CircuitOpen` unless a call may go ahead now."""
        if self.state is BreakerState.OPEN:
            if self.clock.monotonic() - self.opened_at < self.cooldown_s:
                wait = self.cooldown_s - (self.clock.monotonic() - self.opened_at)
                raise E.CircuitOpen(
                    f"{self.provider}: circuit open after {self.failures} consecutive failures; "
                    f"next probe in {wait:.0f} s (last: {self.last_failure})",
                    provider=self.provider,
                )
            self.state = BreakerState.HALF_OPEN
            self._probing = False
        if self.state is BreakerState.HALF_OPEN:
            if self._probing:
                raise E.CircuitOpen(f"{self.provider}: circuit half-open, a probe is in flight", provider=self.provider)
            self._probing = True

    def record(self, err: BaseException | None) -> None:
        if err is None:
            self.state, self.failures, self._probing = BreakerState.CLOSED, 0, False
            return
        if not counts_as_failure(err):
            if self.state is BreakerState.HALF_OPEN:
                self._probing = False  # the probe reached the provider: inconclusive, let another try
            return
        self.failures += 1
        self.last_failure = str(err)
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self.state, self.opened_at, self._probing = BreakerState.OPEN, self.clock.monotonic(), False
