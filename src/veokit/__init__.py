"""veokit: reliable, durable, cost-aware Veo video generation."""

__version__ = "0.1.0"

from veokit.models.request import GenerateRequest, ImageInput, VideoInput
from veokit.service.client import VeoClient
from veokit.service.sync_client import SyncVeoClient

__all__ = ["GenerateRequest", "ImageInput", "SyncVeoClient", "VeoClient", "VideoInput", "__version__"]
