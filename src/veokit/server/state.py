"""What every route reaches: the service's client, settings, meters and image fetcher, kept on the app."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from veokit.config import Settings
from veokit.server.fetch import ImageFetcher
from veokit.server.metrics import Metrics
from veokit.service import KeyFilms, VeoClient, Worker


@dataclass
class Service:
    client: VeoClient
    settings: Settings
    fetcher: ImageFetcher
    films: KeyFilms
    metrics: Metrics = field(default_factory=Metrics)
    worker: Worker | None = None  # set when this process runs jobs too
    ready: bool = False  # the store is open and current

    def wake_worker(self) -> None:
        """A job was just recorded: this process's worker claims it now rather than at its next look."""
        if self.worker is not None:
            self.worker.wake()


def service(request: Request) -> Service:
    found: Service = request.app.state.veokit
    return found
