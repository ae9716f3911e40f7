"""Replicate's model document (``GET /v1/models/{owner}/{name}``), built from the catalog offer.

The official ``replicate`` client parses it into its ``Model`` type, which requires ``url``, ``owner``, ``name``,
``visibility`` and ``run_count`` and reads the rest (``latest_version`` with its OpenAPI schema, the example, the
links) when present. ``run_count`` is the number of predictions this emulator has run for the model, so a client
can watch it move. The version id is derived from the model name: stable across restarts, unique per model.
"""

from __future__ import annotations

import hashlib
from typing import Any

from veokit.models.catalog import Offer

COG_VERSION = "0.16.8"
# Official models on Replicate were published long before any emulated run; a fixed date keeps the document stable.
VERSION_CREATED = "2026-01-13T00:00:00.000000Z"


def version_id(model: str) -> str:
    return hashlib.sha256(f"veokit-emulator:{model}".encode()).hexdigest()


def model_doc(offer: Offer, run_count: int) -> dict[str, Any]:
    owner, _, name = offer.model.partition("/")
    return {
        "url": f"https://replicate.com/{offer.model}",
        "owner": owner,
        "name": name,
        "description": offer.title,
        "visibility": "public",
        "github_url": None,
        "paper_url": None,
        "license_url": None,
        "run_count": run_count,
        "cover_image_url": None,
        "default_example": None,
        "is_official": True,
        "latest_version": {
            "id": version_id(offer.model),
            "created_at": VERSION_CREATED,
            "cog_version": COG_VERSION,
            "openapi_schema": openapi_schema(offer),
        },
    }


def openapi_schema(offer: Offer) -> dict[str, Any]:
    """The parts of a Cog model's OpenAPI schema clients read: the Input and Output components."""
    props: dict[str, Any] = {
        "prompt": {"type": "string", "title": "Prompt", "x-order": 0, "description": "Text prompt for generation"},
        "aspect_ratio": {
            "type": "string",
            "enum": list(offer.aspect_ratios),
            "default": "16:9",
            "x-order": 1,
            "description": "Video aspect ratio",
        },
        "duration": {
            "type": "integer",
            "enum": list(offer.durations),
            "default": max(offer.durations),
            "x-order": 2,
            "description": "Video duration in seconds",
        },
        "resolution": {
            "type": "string",
            "enum": list(offer.resolutions),
            "default": "1080p",
            "x-order": 3,
            "description": "Resolution of the generated video",
        },
        "generate_audio": {
            "type": "boolean",
            "default": True,
            "x-order": 4,
            "description": "Generate audio with the video",
        },
        "negative_prompt": {"type": "string", "x-order": 5, "description": "What to discourage in the video"},
        "seed": {"type": "integer", "x-order": 6, "description": "Random seed. Omit for random generations"},
        "image": {
            "type": "string",
            "format": "uri",
            "x-order": 7,
            "description": "Input image to start generating from (the first frame)",
        },
    }
    if "first_last_frame" in offer.features:
        props["last_frame"] = {
            "type": "string",
            "format": "uri",
            "x-order": 8,
            "description": "Ending image for interpolation; needs image",
        }
    if "reference_images" in offer.features:
        props["reference_images"] = {
            "type": "array",
            "items": {"type": "string", "format": "uri"},
            "x-order": 9,
            "description": f"1 to {offer.max_reference_images} reference images (16:9 and 8 s only)",
        }
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "paths": {},
        "components": {
            "schemas": {
                "Input": {"type": "object", "title": "Input", "required": ["prompt"], "properties": props},
                "Output": {"type": "string", "title": "Output", "format": "uri"},
            }
        },
    }
