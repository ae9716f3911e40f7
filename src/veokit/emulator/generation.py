"""Parse and validate a ``predictLongRunning`` body against the catalog offer, as the service would.

Both protocols share the body shape (``instances[0]`` + ``parameters``); they differ in which media
encodings they take and a few fields (``storageUri`` is Vertex-only). Every rejection is a 400
INVALID_ARGUMENT whose message names the wire field and, where it helps, the supported values.
Media fields are parsed by :mod:`veokit.emulator.media_inputs`; input videos are only *referenced* here,
:mod:`veokit.emulator.submit` resolves and probes them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from veokit.emulator.errors import invalid_argument
from veokit.emulator.media_inputs import MediaRef, Protocol, parse_image, parse_reference_images, parse_video
from veokit.emulator.outcome import Outcome
from veokit.models.catalog import Catalog, Offer

UINT32_MAX = 2**32 - 1
# Vertex-only parameters with a closed set of values ([VX-PARAMS]); the Gemini API refuses them. The SDK sends
# them upper case (OPTIMIZED, PAD), the REST docs lower case: both are accepted.
VERTEX_CHOICES = {"compressionQuality": ("optimized", "lossless"), "resizeMode": ("crop", "pad")}
_TOP_LEVEL = {"vertex": {"instances", "parameters", "labels"}, "gemini": {"instances", "parameters", "webhookConfig"}}


@dataclass(frozen=True)
class GenerationRequest:
    protocol: Protocol
    model: str
    prompt: str
    image: MediaRef | None
    last_frame: MediaRef | None
    reference_images: tuple[MediaRef, ...]
    video: MediaRef | None
    sample_count: int
    duration_s: int
    aspect_ratio: str
    resolution: str
    width: int
    height: int
    seed: int | None
    audio: bool
    storage_uri: str | None
    outcome: Outcome
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)  # as sent, for /_emulator/operations
    # SHA-256 of the body's canonical JSON (sorted keys, no spaces): lets a client find the operation its lost
    # answer created in /_emulator/operations, the emulator's stand-in for a provider's listing of operations.
    request_sha256: str = ""


def parse_generation(body: Any, protocol: Protocol, offer: Offer, catalog: Catalog) -> GenerationRequest:
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object at the top level.")
    for name in body:
        if name not in _TOP_LEVEL[protocol]:
            raise invalid_argument(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise invalid_argument("instances: exactly one instance (an object) is required")
    inst: dict[str, Any] = instances[0]
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        raise invalid_argument("parameters must be an object")
    parsed = _Parser(protocol, offer, catalog, inst, params).parse()
    return dataclasses.replace(parsed, request_sha256=body_sha256(body))


def body_sha256(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class _Parser:
    def __init__(
        self, protocol: Protocol, offer: Offer, catalog: Catalog, inst: dict[str, Any], params: dict[str, Any]
    ) -> None:
        self.protocol = protocol
        self.offer = offer
        self.catalog = catalog
        self.inst = inst
        self.params = params
        self.model = offer.model

    def parse(self) -> GenerationRequest:
        o = self.offer
        image = parse_image(self.inst.get("image"), "instances[0].image", self.protocol)
        last_frame = parse_image(self.inst.get("lastFrame"), "instances[0].lastFrame", self.protocol)
        refs = parse_reference_images(self.inst.get("referenceImages"), self.protocol, self.model)
        video = parse_video(self.inst.get("video"), self.protocol)
        prompt = self.inst.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise invalid_argument("instances[0].prompt must be a string")
        if not (prompt or "").strip() and image is None and video is None:
            raise invalid_argument("instances[0].prompt is required for text-to-video generation")
        if last_frame is not None and image is None:
            raise invalid_argument("instances[0].lastFrame requires instances[0].image (the first frame)")

        sample_count = self._int("sampleCount", 1)
        lo, hi = o.sample_count
        if not lo <= sample_count <= hi:
            raise invalid_argument(
                f"sampleCount must be between {lo} and {hi}"
                if lo < hi
                else f"sampleCount must be {lo} for model {self.model}"
            )
        aspect = self._choice("aspectRatio", "16:9", o.aspect_ratios, "aspect ratio")
        resolution = self._choice("resolution", "720p", o.resolutions, "resolution", fold_case=True)
        duration = self._int("durationSeconds", 8)
        if duration not in o.durations:
            raise invalid_argument(
                f"Unsupported durationSeconds: {duration}. Supported values: {', '.join(str(d) for d in o.durations)}."
            )
        limited = o.resolution_aspects.get(resolution)
        if limited and aspect not in limited:
            raise invalid_argument(f"resolution {resolution} is only supported with aspectRatio {', '.join(limited)}")

        features = {"image_to_video" if image is not None else "text_to_video"}
        if last_frame is not None:
            features.add("first_last_frame")
        if refs:
            features.add("reference_images")
        if video is not None:
            features.add("extension")
        for feature, field in (
            ("image_to_video", "instances[0].image"),
            ("first_last_frame", "instances[0].lastFrame"),
            ("reference_images", "instances[0].referenceImages"),
            ("extension", "instances[0].video"),
        ):
            if feature in features and feature not in o.features:
                raise invalid_argument(f"{field}: {feature.replace('_', ' ')} is not supported by model {self.model}")
        if len(refs) > o.max_reference_images:
            raise invalid_argument(
                f"instances[0].referenceImages: at most {o.max_reference_images} "
                f"reference images are supported, got {len(refs)}"
            )
        self._check_needs_8s(features, resolution, duration)
        if video is not None and o.extension_resolutions is not None and resolution not in o.extension_resolutions:
            raise invalid_argument(
                f"resolution {resolution} is not supported for video extension. "
                f"Supported values: {', '.join(o.extension_resolutions)}."
            )

        mode = "image_to_video" if (image or last_frame or refs) else "text_to_video"
        self._person_generation(mode)
        seed = self._seed()
        audio = self._audio()
        storage_uri = self._storage_uri()
        self._misc()
        width, height = self.catalog.dims(resolution, aspect)
        return GenerationRequest(
            protocol=self.protocol,
            model=self.model,
            prompt=prompt or "",
            image=image,
            last_frame=last_frame,
            reference_images=refs,
            video=video,
            sample_count=sample_count,
            duration_s=duration,
            aspect_ratio=aspect,
            resolution=resolution,
            width=width,
            height=height,
            seed=seed,
            audio=audio,
            storage_uri=storage_uri,
            outcome=Outcome.from_prompt(prompt or ""),
            parameters=dict(self.params),
        )

    # -- parameters ----------------------------------------------------------------------------------
    def _int(self, name: str, default: int) -> int:
        value = self.params.get(name, default)
        # Veo 2's docs show durationSeconds as a string ("8"); the service takes both.
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_argument(f"{name} must be an integer, got {value!r}")
        return value

    def _choice(self, name: str, default: str, allowed: list[str], label: str, *, fold_case: bool = False) -> str:
        value = self.params.get(name, default)
        if not isinstance(value, str):
            raise invalid_argument(f"{name} must be a string")
        if fold_case:
            value = value.lower()
        if value not in allowed:
            raise invalid_argument(f"Unsupported {label}: {value}. Supported values: {', '.join(allowed)}.")
        return value

    def _check_needs_8s(self, features: set[str], resolution: str, duration: int) -> None:
        if duration == 8:
            return
        why = {
            "1080p": "resolution is 1080p",
            "4k": "resolution is 4k",
            "reference_images": "referenceImages are given",
            "extension": "extending a video",
        }
        for need in self.offer.needs_8s:
            if need == resolution or need in features:
                raise invalid_argument(f"durationSeconds must be 8 when {why.get(need, need)}")

    def _person_generation(self, mode: str) -> None:
        value = self.params.get("personGeneration")
        if value is None:
            return
        if not isinstance(value, str):
            raise invalid_argument("personGeneration must be a string")
        allowed = self.offer.person_generation.get(mode, [])
        if value.lower() not in allowed:
            raise invalid_argument(
                f"personGeneration {value} is not supported for "
                f"{mode.replace('_', '-')} with model {self.model}. "
                f"Supported values: {', '.join(allowed)}."
            )

    def _seed(self) -> int | None:
        if self.params.get("seed") is None:
            return None
        seed = self._int("seed", 0)
        if not 0 <= seed <= UINT32_MAX:
            raise invalid_argument(f"seed must be between 0 and {UINT32_MAX}")
        return seed

    def _audio(self) -> bool:
        value = self.params.get("generateAudio")
        if value is not None and not isinstance(value, bool):
            raise invalid_argument("generateAudio must be a boolean")
        if self.offer.audio == "none":
            if value:
                raise invalid_argument(f"generateAudio is not supported by model {self.model}")
            return False
        if self.offer.audio == "always":
            if value is False:
                raise invalid_argument(
                    f"generateAudio=false is not supported by model {self.model}: it always generates audio"
                )
            return True
        return value is not False

    def _storage_uri(self) -> str | None:
        uri = self.params.get("storageUri")
        if uri is None:
            return None
        if self.protocol == "gemini":
            raise invalid_argument("storageUri parameter is not supported in Gemini API.")
        if not isinstance(uri, str) or not uri.startswith("gs://") or len(uri) <= 5 or uri[5] == "/":
            raise invalid_argument("storageUri must be a Cloud Storage URI that starts with gs:// (gs://bucket/prefix)")
        return uri

    def _misc(self) -> None:
        for name in ("negativePrompt",):
            if name in self.params and not isinstance(self.params[name], str):
                raise invalid_argument(f"{name} must be a string")
        for name in ("enhancePrompt",):
            if name in self.params and not isinstance(self.params[name], bool):
                raise invalid_argument(f"{name} must be a boolean")
        fps = self.params.get("fps")
        if fps is not None and fps != 24:
            raise invalid_argument(f"Unsupported fps: {fps}. Supported values: 24.")
        for name, allowed in VERTEX_CHOICES.items():
            if name not in self.params:
                continue
            if self.protocol == "gemini":
                raise invalid_argument(f"{name} parameter is not supported in Gemini API.")
            value = self.params[name]
            if not isinstance(value, str) or value.lower() not in allowed:
                raise invalid_argument(f"Unsupported {name}: {value}. Supported values: {', '.join(allowed)}.")


__all__ = ["GenerationRequest", "MediaRef", "Protocol", "parse_generation"]
