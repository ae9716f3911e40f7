"""``--provider emulator``: veokit's own emulator, started in this process, spoken to as Vertex AI.

It needs no key and costs nothing, which makes it the way to try veokit and to test against. What it is
shapes how veokit treats it, through its spec's flags rather than its name: it sells Vertex's catalog rows
(prices are what Vertex would charge, and ``real_money`` is false), ``auto`` never picks it, and its
operations live in this process only (``durable`` is false): after a crash there is nothing to resume.
The server starts with the provider and stops when the provider is closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def build(_: ProviderSettings, offer_lookup: OfferLookup) -> InProcessEmulator:
    from veokit.emulator import EmulatorConfig, EmulatorServer  # the emulator's dependencies load only when used

    return InProcessEmulator(EmulatorServer(EmulatorConfig(latency_s=LATENCY_S)).start(), offer_lookup)


SPEC = ProviderSpec(
    name="emulator",
    title="an in-process veokit emulator speaking the Vertex protocol: synthetic videos, no key, no cost",
    catalog="vertex",
    provider_class=InProcessEmulator,
    build=build,
    settings=ProviderSettings,
    configured=lambda _: False,  # never chosen for lack of a better provider: only when named
    credentials="nothing",
    options=OPTIONS,
    rank=1000,
    durable=False,
    real_money=False,
    auto=False,
    poll_scale=POLL_SCALE,
)
