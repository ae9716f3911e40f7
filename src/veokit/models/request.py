"""What the user asks for: a provider-neutral Veo request, and the same request as a job records it.

Values are checked for shape here (types, ranges, image formats); whether a model supports them is the
catalog's call (:func:`veokit.models.catalog.Catalog.validate`), so its errors can name what *is* allowed.

The fields are declared once (:class:`RequestFields`) for both forms of a request:

* :class:`GenerateRequest`, what library users build, holds its input images and video as bytes;
* :class:`StoredRequest`, what a job keeps (``Job.request``), holds them as references to the store's blobs
  (see :mod:`veokit.models.inputs`). :meth:`GenerateRequest.stored` and :meth:`StoredRequest.loaded` convert,
  and both forms have the same :meth:`~RequestFields.fingerprint`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from veokit.errors import InvalidRequest
from veokit.models.inputs import (
    MAX_IMAGE_BYTES,
    MAX_VIDEO_BYTES,
    BlobRef,
    ImageInput,
    ImageMime,
    StoredImage,
    StoredVideo,
    VideoInput,
    sniff_image_mime,
)

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_OPTIONS",
    "MAX_PROMPT_CHARS",
    "MAX_VIDEO_BYTES",
    "AnyRequest",
    "GenerateRequest",
    "ImageInput",
    "ImageMime",
    "OptionValue",
    "RequestFields",
    "StoredRequest",
    "VideoInput",
    "sniff_image_mime",
]

MAX_PROMPT_CHARS = 8000  # Veo takes ~1,024 tokens; far past that is surely a mistake
UINT32_MAX = 2**32 - 1
MAX_OPTIONS = 32

# A provider-specific option's value (see veokit.providers.options): a JSON scalar, checked per provider.
OptionValue = bool | int | float | str
INPUT_FIELDS = frozenset({"image", "last_frame", "reference_images", "video"})

ImageT = TypeVar("ImageT", ImageInput, StoredImage)
VideoT = TypeVar("VideoT", VideoInput, StoredVideo)


class RequestFields(BaseModel, Generic[ImageT, VideoT]):
    """Every field of a Veo 3.1 generation request, independent of any provider's wire format."""

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
    image: ImageT | None = None
    last_frame: ImageT | None = None
    reference_images: tuple[ImageT, ...] = ()
    video: VideoT | None = None
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

    @field_validator("duration_seconds", "seed", "sample_count", mode="before")
    @classmethod
    def _not_a_bool(cls, v: Any) -> Any:
        # JSON's true is an int to pydantic; `"duration": true` is a mistake, not one second.
        if isinstance(v, bool):
            raise ValueError("must be a whole number, not true/false")
        return v

    @model_validator(mode="after")
    def _last_frame_needs_first(self) -> RequestFields[ImageT, VideoT]:
        # Veo interpolates between two frames; a last frame alone is refused by every provider, after the
        # round trip. Refused here so --dry-run says so too.
        if self.last_frame is not None and self.image is None:
            raise InvalidRequest(
                "last_frame: a last frame needs a first frame (image) too: Veo interpolates between the two",
                field="last_frame",
            )
        return self

    @field_validator("storage_uri")
    @classmethod
    def _gs_only(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("gs://"):
            raise ValueError("storage_uri must start with gs://")
        return v

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
        """Canonical hash of everything that shapes the output (inputs by content hash), for de-duplication.

        Equal for a request and its stored form, and stable across releases: reusing an earlier video
        depends on today's requests hashing like the recorded ones.
        """
        doc = self.model_dump(exclude={*INPUT_FIELDS, "options"})
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

    def _plain_fields(self) -> dict[str, Any]:
        return self.model_dump(exclude=set(INPUT_FIELDS))


class GenerateRequest(RequestFields[ImageInput, VideoInput]):
    """A generation request as the user builds it: input images and video as bytes (or a video URI)."""

    @classmethod
    def build(cls, **kwargs: Any) -> GenerateRequest:
        """Construct from user input, turning pydantic errors into one :class:`InvalidRequest`."""
        try:
            return cls(**kwargs)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "request"
            message = str(err["msg"]).removeprefix("Value error, ")
            raise InvalidRequest(f"{field}: {message}", field=field) from None

    def stored(self) -> StoredRequest:
        """This request as a job records it: each input by reference; its bytes are :meth:`input_contents`."""
        return StoredRequest.model_validate(self.stored_json())

    def stored_json(self) -> dict[str, Any]:
        """:meth:`stored` as JSON values (what ``Job.request`` holds), without building the model on the way."""
        doc = self.model_dump(mode="json", exclude=set(INPUT_FIELDS))
        doc["image"] = None if self.image is None else self.image.stored().model_dump(mode="json")
        doc["last_frame"] = None if self.last_frame is None else self.last_frame.stored().model_dump(mode="json")
        doc["reference_images"] = [r.stored().model_dump(mode="json") for r in self.reference_images]
        doc["video"] = None if self.video is None else self.video.stored().model_dump(mode="json")
        return doc

    def input_contents(self) -> dict[str, bytes]:
        """The bytes of every input, once per distinct content, by SHA-256: what the store's blobs must hold."""
        images = [i for i in (self.image, self.last_frame, *self.reference_images) if i is not None]
        contents = {i.sha256: i.data for i in images}
        if self.video is not None and self.video.data is not None:
            contents[self.video.sha256] = self.video.data
        return contents


class StoredRequest(RequestFields[StoredImage, StoredVideo]):
    """A generation request as a job records it (``Job.request``): inputs are references to blobs in the
    job store. Everything but the provider call works on this form; :meth:`loaded` makes the request to send."""

    def blobs(self) -> list[BlobRef]:
        """The blobs this request references, each once."""
        refs = [i.blob for i in (self.image, self.last_frame, *self.reference_images) if i is not None]
        if self.video is not None and self.video.blob is not None:
            refs.append(self.video.blob)
        return list({r.sha256: r for r in refs}.values())

    def loaded(self, contents: Mapping[str, bytes]) -> GenerateRequest:
        """The request with its inputs' bytes, from ``contents`` (SHA-256 → bytes, e.g. from the store's blobs)."""

        def image(ref: StoredImage | None) -> ImageInput | None:
            return None if ref is None else ref.loaded(contents[ref.sha256])

        video = self.video
        return GenerateRequest.model_validate(
            {
                **self._plain_fields(),
                "image": image(self.image),
                "last_frame": image(self.last_frame),
                "reference_images": tuple(r.loaded(contents[r.sha256]) for r in self.reference_images),
                "video": None
                if video is None
                else video.loaded(None if video.blob is None else contents[video.blob.sha256]),
            }
        )


AnyRequest = GenerateRequest | StoredRequest
"""Either form, for code that reads only what both have (everything but the inputs' bytes)."""
