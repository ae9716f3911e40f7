"""What the user asks for: a provider-neutral Veo request.

Values are checked for shape here (types, ranges, image formats); whether a model supports them is the
catalog's call (:func:`veokit.models.catalog.Catalog.validate`), so its errors can name what *is* allowed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

from veokit.errors import InputTooLarge, InvalidRequest, UnsupportedMedia

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # Vertex's documented input-image ceiling
MAX_VIDEO_BYTES = 500 * 1024 * 1024
MAX_PROMPT_CHARS = 8000  # Veo takes ~1,024 tokens; far past that is surely a mistake
UINT32_MAX = 2**32 - 1
MAX_OPTIONS = 32

# A provider-specific option's value (see veokit.providers.options): a JSON scalar, checked per provider.
OptionValue = bool | int | float | str

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
        return cls(data=data, mime_type=mime, name=name)

    @classmethod
    def from_path(cls, path: str | Path, *, field: str = "image") -> ImageInput:
        p = Path(path).expanduser()
        if not p.is_file():
            raise InvalidRequest(f"{field}: no such file: {p}", field=field)
        size = p.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise InputTooLarge(
                f"{field}: {p.name} is {size / 1e6:.1f} MB; the limit is {MAX_IMAGE_BYTES // 2**20} MiB",
                field=field,
            )
        return cls.from_bytes(p.read_bytes(), name=p.name, field=field)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def b64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

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

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data or (self.uri or "").encode()).hexdigest()

    @field_serializer("data")
    def _ser_data(self, data: bytes | None) -> str | None:
        return None if data is None else base64.b64encode(data).decode("ascii")

    @field_validator("data", mode="before")
    @classmethod
    def _de_data(cls, v: Any) -> Any:
        return base64.b64decode(v) if isinstance(v, str) else v


class GenerateRequest(BaseModel):
    """A Veo 3.1 generation request, independent of any provider's wire format."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model: str | None = None
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    aspect_ratio: str = "16:9"
    resolution: str = "720p"
    duration_seconds: int = 8
    seed: int | None = Field(default=None, ge=0, le=UINT32_MAX)
    sample_count: int = Field(default=1, ge=1, le=4)
    generate_audio: bool | None = None
    person_generation: str | None = None
    enhance_prompt: bool | None = None
    image: ImageInput | None = None
    last_frame: ImageInput | None = None
    reference_images: tuple[ImageInput, ...] = ()
    video: VideoInput | None = None
    storage_uri: str | None = None
    # The provider's own settings by name ({"watermark": "ACME"}): validated against the chosen provider's
    # spec before anything is sent, and an option it does not know is an error.
    options: dict[str, OptionValue] = Field(default_factory=dict)

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("prompt is blank")
        return v

    @field_validator("options", mode="before")
    @classmethod
    def _options_shape(cls, v: Any) -> Any:
        """Names and JSON scalars only; which names and values are valid is the chosen provider's call."""
        if not isinstance(v, dict):
            raise ValueError("must be an object of NAME: VALUE")
        if len(v) > MAX_OPTIONS:
            raise ValueError(f"at most {MAX_OPTIONS} options")
        for name, value in v.items():
            if not isinstance(name, str) or not name.strip():
                raise ValueError("an option needs a name")
            if not isinstance(value, bool | int | float | str):
                raise ValueError(f"{name}: {value!r} is not text, a number or true/false")
        return v

    @field_validator("storage_uri")
    @classmethod
    def _gs_only(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("gs://"):
            raise ValueError("storage_uri must start with gs://")
        return v

    @classmethod
    def build(cls, **kwargs: Any) -> GenerateRequest:
        """Construct from user input, turning pydantic errors into one :class:`InvalidRequest`."""
        try:
            return cls(**kwargs)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "request"
            raise InvalidRequest(f"{field}: {err['msg']}", field=field) from None

    # -- derived facts ----------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """Which personGeneration rule set applies: image-conditioned modes are stricter."""
        if self.image is not None or self.last_frame is not None or self.reference_images:
            return "image_to_video"
        return "text_to_video"

    def features(self) -> list[str]:
        used = ["text_to_video"] if self.image is None else ["image_to_video"]
        if self.last_frame is not None:
            used.append("first_last_frame")
        if self.reference_images:
            used.append("reference_images")
        if self.video is not None:
            used.append("extension")
        return used

    def fingerprint(self) -> str:
        """Canonical hash of everything that shapes the output (images by hash), for de-duplication."""
        doc = self.model_dump(exclude={"image", "last_frame", "reference_images", "video", "options"})
        if self.options:  # absent when empty, so requests without options keep the fingerprints they had
            doc["options"] = self.options
        doc["image"] = self.image.sha256 if self.image else None
        doc["last_frame"] = self.last_frame.sha256 if self.last_frame else None
        doc["reference_images"] = [r.sha256 for r in self.reference_images]
        doc["video"] = self.video.sha256 if self.video else None
        canon = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()

    def summary(self) -> str:
        options = "".join(f" {k}={v}" for k, v in self.options.items())
        return (
            f"{self.model} {self.aspect_ratio} {self.resolution} {self.duration_seconds}s"
            f" x{self.sample_count}{'' if self.generate_audio is not False else ' silent'}{options}"
        )
