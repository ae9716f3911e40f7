"""veokit: reliable, durable, cost-aware Veo video generation."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'veokit' has no attribute {name!r}")
