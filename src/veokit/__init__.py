"""veokit: reliable, durable, cost-aware Veo video generation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from veokit.lazy import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from veokit.models.request import GenerateRequest, ImageInput, VideoInput
    from veokit.service.client import VeoClient
    from veokit.service.sync_client import SyncVeoClient

__all__ = ["GenerateRequest", "ImageInput", "SyncVeoClient", "VeoClient", "VideoInput", "__version__"]

# Imported on first use (PEP 562): `import veokit.cli` or `veokit.errors` must not pay for the whole service
# layer (SQLAlchemy, the engine, the providers), which `veokit --help` would otherwise load.
_LAZY = {
    "GenerateRequest": "veokit.models.request",
    "ImageInput": "veokit.models.request",
    "VideoInput": "veokit.models.request",
    "VeoClient": "veokit.service.client",
    "SyncVeoClient": "veokit.service.sync_client",
}


__getattr__ = lazy_exports(__name__, _LAZY)
