"""Media fields of a Veo request: input images (first/last frame, references) and the video to extend.

Vertex takes images as ``bytesBase64Encoded`` or ``gcsUri``; the Gemini API takes ``bytesBase64Encoded``
(the SDK) or ``inlineData`` (the docs' REST samples). A video is a URI (gs:// or a Gemini file URI) or,
on Vertex only, inline bytes. Images are checked here, so a bad one is a 400 at submit rather than a
failed operation minutes later.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image

from veokit.emulator.errors import invalid_argument

Protocol = Literal["vertex", "gemini"]
_IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


@dataclass(frozen=True)
class MediaRef:
    """Inline bytes, or a URI (gs://… or a Gemini file URI) that the emulator must resolve."""

    data: bytes | None = None
    uri: str | None = None
    mime_type: str | None = None


def parse_image(doc: Any, field: str, protocol: Protocol) -> MediaRef | None:
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise invalid_argument(f"{field} must be an object")
    inline = doc.get("inlineData")
    if protocol == "gemini" and isinstance(inline, dict):
        # The Gemini docs' REST samples use inlineData; the SDK sends bytesBase64Encoded. Take both.
        doc = {"bytesBase64Encoded": inline.get("data"), "mimeType": inline.get("mimeType")}
    if doc.get("gcsUri") is not None:
        if protocol == "gemini":
            raise invalid_argument(f"{field}.gcsUri is not supported in Gemini API.")
        uri = doc["gcsUri"]
        if not isinstance(uri, str) or not uri.startswith("gs://"):
            raise invalid_argument(f"{field}.gcsUri must start with gs://")
        return MediaRef(uri=uri, mime_type=doc.get("mimeType"))
    data = decode_b64(doc.get("bytesBase64Encoded"), f"{field}.bytesBase64Encoded")
    return MediaRef(data=data, mime_type=check_image(data, field))


def parse_reference_images(docs: Any, protocol: Protocol, model: str) -> tuple[MediaRef, ...]:
    if docs is None:
        return ()
    if not isinstance(docs, list):
        raise invalid_argument("instances[0].referenceImages must be a list")
    refs: list[MediaRef] = []
    for i, doc in enumerate(docs):
        where = f"instances[0].referenceImages[{i}]"
        if not isinstance(doc, dict):
            raise invalid_argument(f"{where} must be an object")
        kind = doc.get("referenceType", "asset")
        # Veo 3.1 takes asset references only; style references were a Veo 2 preview feature.
        if not isinstance(kind, str) or kind.lower() != "asset":
            raise invalid_argument(
                f"{where}.referenceType {kind} is not supported by model {model}. Supported values: asset."
            )
        ref = parse_image(doc.get("image"), f"{where}.image", protocol)
        if ref is None:
            raise invalid_argument(f"{where}.image is required")
        refs.append(ref)
    return tuple(refs)


def parse_video(doc: Any, protocol: Protocol) -> MediaRef | None:
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise invalid_argument("instances[0].video must be an object")
    # The SDK sends Video.uri as "uri" to the Gemini API and as "gcsUri" to Vertex.
    uri = doc.get("uri") or doc.get("gcsUri")
    if uri is not None:
        if not isinstance(uri, str):
            raise invalid_argument("instances[0].video.uri must be a string")
        return MediaRef(uri=uri, mime_type=doc.get("mimeType"))
    encoded = doc.get("bytesBase64Encoded") or doc.get("encodedVideo")
    if encoded is None:
        raise invalid_argument("instances[0].video needs uri or bytesBase64Encoded")
    if protocol == "gemini":
        raise invalid_argument(
            "instances[0].video: video bytes are not supported in Gemini API; pass the uri of a video the API generated"
        )
    return MediaRef(data=decode_b64(encoded, "instances[0].video.bytesBase64Encoded"), mime_type="video/mp4")


def check_image(data: bytes, field: str) -> str:
    """The image's MIME type; a 400 unless it is a PNG, JPEG or WebP that actually decodes."""
    mime = sniff_image(data)
    if mime is None:
        raise invalid_argument(f"{field}: the image must be a PNG, JPEG or WebP file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()  # structure and checksums, without decoding pixels
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise invalid_argument(f"{field}: the image could not be decoded") from None
    return mime


def sniff_image(data: bytes) -> str | None:
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode_b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise invalid_argument(f"{field} is required (base64-encoded bytes)")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.urlsafe_b64decode(value)
        except (binascii.Error, ValueError):
            raise invalid_argument(f"Invalid value at '{field}': invalid base64 data") from None
