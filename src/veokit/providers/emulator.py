"""``--provider emulator``: veokit's own emulator, started in this process, spoken to as Vertex AI.

It needs no key and costs nothing, which makes it the way to try veokit and to test against. What it is
shapes how veokit treats it, through its spec's flags rather than its name: it sells Vertex's catalog rows
(prices are what Vertex would charge, and ``real_money`` is false) and ``auto`` never picks it.
The server starts with the provider and stops when the provider is closed.

Its operations outlive the process (``durable``): the emulator keeps what it accepted under
``<data dir>/emulator`` (``VEOKIT_EMULATOR_STATE_DIR`` to move it; see :mod:`veokit.emulator.persist`), beside
the default job store, so after Ctrl-C or a crash ``veokit resume`` starts an emulator on the same state, which
answers the same operation names, and the job finishes without being submitted again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
from pydantic import Field

from veokit.providers.base import OfferLookup
from veokit.providers.google_auth import GoogleCredentialsAuth, static_token_credentials
from veokit.providers.http import new_client
from veokit.providers.spec import ProviderSettings, ProviderSpec
from veokit.providers.vertex import OPTIONS, VertexProvider

if TYPE_CHECKING:
    from veokit.emulator import EmulatorServer

TOKEN = "test-token"  # noqa: S105 - the emulator's documented default credential, not a secret
PROJECT = "veokit-emulator"
LATENCY_S = 2.0
POLL_SCALE = 0.05  # its 2 s "generation" is ~1/30 of Veo's: poll on the same scale


class InProcessEmulator(VertexProvider):
    """Vertex's protocol against an emulator server this provider owns."""

    def __init__(self, server: EmulatorServer, offer_lookup: OfferLookup) -> None:
        super().__init__(
            auth=GoogleCredentialsAuth(static_token_credentials(TOKEN)),
            project=PROJECT,
            location="us-central1",
            base_url=server.base_url,
            client=new_client(),
            offer_lookup=offer_lookup,
        )
        self.server = server

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            self.server.stop()


class EmulatorSettings(ProviderSettings):
    # veokit's data directory: Settings declares it too (the same variable, VEOKIT_DATA_DIR); declared here so
    # this provider reads it through its typed view.
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("veokit")))
    emulator_state_dir: Path | None = None  # default: <data_dir>/emulator


def state_dir(s: EmulatorSettings) -> Path:
    return s.emulator_state_dir or s.data_dir / "emulator"


def build(s: EmulatorSettings, offer_lookup: OfferLookup) -> InProcessEmulator:
    from veokit.emulator import EmulatorConfig, EmulatorServer  # the emulator's dependencies load only when used

    config = EmulatorConfig(latency_s=LATENCY_S, state_dir=state_dir(s))
    return InProcessEmulator(EmulatorServer(config).start(), offer_lookup)


SPEC = ProviderSpec(
    name="emulator",
    title="an in-process veokit emulator speaking the Vertex protocol: synthetic videos, no key, no cost",
    catalog="vertex",
    provider_class=InProcessEmulator,
    build=build,
    settings=EmulatorSettings,
    configured=lambda _: False,  # never chosen for lack of a better provider: only when named
    credentials="nothing",
    options=OPTIONS,
    rank=1000,
    real_money=False,
    auto=False,
    poll_scale=POLL_SCALE,
)
