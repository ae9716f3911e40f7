"""Input media: images (first/last frame, references) and the video to extend, in their two forms.

* As the user gives them (:class:`ImageInput`, :class:`VideoInput`): the bytes themselves, checked for shape.
* As a job records them (:class:`StoredImage`, :class:`StoredVideo`): a :class:`BlobRef`, the content's
  SHA-256 and size. The bytes are kept once in the job store's blob storage, however many jobs use them, so a
  job row stays small whatever it was asked to extend.

Both forms answer ``sha256`` the same way, which is what keeps a request's fingerprint equal in either form.
"""

from __future__ import annotations

import base64
import hashlib
import io
import warnings
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from veokit.errors import InputTooLarge, InvalidRequest, UnsupportedMedia

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # Vertex's documented input-image ceiling
MAX_VIDEO_BYTES = 500 * 1024 * 1024

ImageMime = Literal["image/png", "image/jpeg", "image/webp"]


def sniff_image_mime(data: bytes) -> ImageMime:
    """Tell PNG, JPEG and WebP apart by their magic bytes; file names lie."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise UnsupportedMedia("image is not PNG, JPEG or WebP", field="image", allowed=["png", "jpeg", "webp"])


_PIL_FORMATS: dict[str, ImageMime] = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
MAX_IMAGE_PIXELS = 64_000_000  # far beyond any Veo input (4k is 8.3 MP); more is a decompression bomb


def check_image_decodes(data: bytes, mime: ImageMime, *, field: str, name: str | None) -> None:
    """Decode the whole image: a truncated or corrupt file passes a magic-byte check and is refused by the
    provider only after the round trip (or, worse, rendered from garbage)."""
    from PIL import Image  # here: only a request with an image needs Pillow (a batch of prompts does not)

    what = name or "the image"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(_PIL_FORMATS)) as img:
                fmt, (width, height) = img.format, img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise UnsupportedMedia(
                        f"{field}: {what} is {width}x{height} pixels; at most {MAX_IMAGE_PIXELS // 1_000_000} MP",
                        field=field,
                    )
                img.load()
            if fmt == "PNG":  # load() stops at the last pixel; verify() checks every chunk's CRC up to IEND
                with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
                    img.verify()
    except UnsupportedMedia:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        # Pillow reports a bad file as any of these ("image file is truncated", "broken PNG file", ...).
        detail = "unrecognised content" if "cannot identify" in str(exc) else str(exc).rstrip(".")
        raise UnsupportedMedia(
            f"{field}: {what} is not a readable image ({detail or 'corrupt'})", field=field
        ) from None
    if _PIL_FORMATS.get(fmt or "") != mime:
        raise UnsupportedMedia(f"{field}: {what} does not decode as {mime}", field=field)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobRef(BaseModel):
    """Content kept in the job store's blob storage, named by its SHA-256 (see ``JobStore.put_blob``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


# -- as the user gives them ------------------------------------------------------------------------------------
class ImageInput(BaseModel):
    """An input image held as bytes, with its MIME type sniffed from the content."""

    model_config = ConfigDict(frozen=True)

    data: bytes = Field(repr=False)
    mime_type: ImageMime
    name: str | None = None

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str | None = None, field: str = "image") -> ImageInput:
        if not data:
            raise UnsupportedMedia(f"{field}: the image is empty", field=field)
        if len(data) > MAX_IMAGE_BYTES:
            raise InputTooLarge(
                f"{field}: image is {len(data) / 1e6:.1f} MB; the limit is {MAX_IMAGE_BYTES // 2**20} MiB",
                field=field,
            )
        try:
            mime = sniff_image_mime(data)
        except UnsupportedMedia:
            raise UnsupportedMedia(
                f"{field}: {name or 'the image'} is not a PNG, JPEG or WebP file",
                field=field,
                allowed=["png", "jpeg", "webp"],
            ) from None
        check_image_decodes(data, mime, field=field, name=name)
        return cls(data=data, mime_type=mime, name=name)

    @classmethod
    def from_path(cls, path: str | Path, *, field: str = "image") -> ImageInput:
        p = Path(path).expanduser()
        if p.is_dir():
            raise InvalidRequest(f"{field}: {p} is a directory; give an image file (PNG, JPEG or WebP)", field=field)
        if not p.is_file():
            raise InvalidRequest(f"{field}: no such file: {p}", field=field)
        size = p.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise InputTooLarge(
                f"{field}: {p.name} is {size / 1e6:.1f} MB; the limit is {MAX_IMAGE_BYTES // 2**20} MiB",
                field=field,
            )
        return cls.from_bytes(p.read_bytes(), name=p.name, field=field)

    @cached_property
    def sha256(self) -> str:
        return _sha256(self.data)

    @property
    def b64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def stored(self) -> StoredImage:
        return StoredImage(
            blob=BlobRef(sha256=self.sha256, size=len(self.data)), mime_type=self.mime_type, name=self.name
        )

    @field_serializer("data")
    def _ser_data(self, data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    @field_validator("data", mode="before")
    @classmethod
    def _de_data(cls, v: Any) -> Any:
        return base64.b64decode(v) if isinstance(v, str) else v


class VideoInput(BaseModel):
    """The video to extend: a provider URI (Gemini file URI, gs://) or local MP4 bytes (Vertex only)."""

    model_config = ConfigDict(frozen=True)

    uri: str | None = None
    data: bytes | None = Field(default=None, repr=False)
    mime_type: str = "video/mp4"

    @classmethod
    def from_path(cls, path: str | Path) -> VideoInput:
        p = Path(path).expanduser()
        if not p.is_file():
            raise InvalidRequest(f"video: no such file: {p}", field="video")
        if p.stat().st_size > MAX_VIDEO_BYTES:
            raise InputTooLarge("video: file too large to extend", field="video")
        return cls(data=p.read_bytes())

    @cached_property
    def sha256(self) -> str:
        """The content's hash for local bytes, else the URI's: what identifies the video in a fingerprint."""
        return _sha256(self.data if self.data is not None else (self.uri or "").encode())

    @property
    def is_local(self) -> bool:
        return self.data is not None

    def stored(self) -> StoredVideo:
        blob = None if self.data is None else BlobRef(sha256=self.sha256, size=len(self.data))
        return StoredVideo(uri=self.uri, blob=blob, mime_type=self.mime_type)

    @field_serializer("data")
    def _ser_data(self, data: bytes | None) -> str | None:
        return None if data is None else base64.b64encode(data).decode("ascii")

    @field_validator("data", mode="before")
    @classmethod
    def _de_data(cls, v: Any) -> Any:
        return base64.b64decode(v) if isinstance(v, str) else v


# -- as a job records them -------------------------------------------------------------------------------------
class StoredImage(BaseModel):
    """An input image as a job records it: its bytes are the blob ``blob``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    blob: BlobRef
    mime_type: ImageMime
    name: str | None = None

    @property
    def sha256(self) -> str:
        return self.blob.sha256

    def loaded(self, data: bytes) -> ImageInput:
        # Checked when the user built it; the store verified the bytes against their hash on the way out.
        return ImageInput(data=data, mime_type=self.mime_type, name=self.name)


class StoredVideo(BaseModel):
    """The video to extend as a job records it: a provider URI, or local bytes kept as the blob ``blob``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str | None = None
    blob: BlobRef | None = None
    mime_type: str = "video/mp4"

    @property
    def sha256(self) -> str:
        return self.blob.sha256 if self.blob is not None else _sha256((self.uri or "").encode())

    @property
    def is_local(self) -> bool:
        return self.blob is not None

    def loaded(self, data: bytes | None) -> VideoInput:
        return VideoInput(uri=self.uri, data=data, mime_type=self.mime_type)
