"""What a service's metrics show, read in one go: jobs by state and provider from the store, what this
process's engine did (submits, polls, retries, 429s, bytes downloaded), its circuit breakers, today's spend."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Meters:
    jobs: dict[tuple[str, str], int]  # (state, provider) -> jobs, every process's
    submits: dict[str, int]  # provider -> paid calls made by this process
    polls: dict[str, int]
    retries: dict[str, int]
    rate_limited: dict[str, int]
    download_bytes: dict[str, int]
    breakers: dict[str, str]  # provider -> closed | open | half_open
    spend_today_usd: dict[str, float]  # provider -> spent, reserved or unknown today (UTC), every process's
