"""A create request as it arrives (multipart/form-data, as the ``openai`` SDK sends it, or JSON) turned into a
:class:`GenerateRequest`, with every problem a 400 naming the parameter before anything is recorded.

OpenAI's parameters map onto veokit's: ``seconds`` ("4", "6", "8") is the duration; ``size`` ("1280x720",
"720x1280", "1920x1080", "1080x1920", "3840x2160", "2160x3840": the catalog's dimensions) is the aspect ratio
and resolution; ``input_reference`` (an upload, ``{"image_url": "https://…" | "data:…"}``) is the first frame.
veokit's own fields ride along under their names: ``negative_prompt``, ``seed``, ``generate_audio``,
``last_frame`` and ``reference_images`` (uploads or image URLs), ``person_generation``, ``enhance_prompt``,
``provider``. An unknown parameter is refused, not ignored: a typo must not be paid for silently.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from PIL import Image
from starlette.datastructures import UploadFile

from veokit import errors as E
from veokit.config import AUTO, PROVIDERS
from veokit.models.catalog import Catalog
from veokit.models.request import GenerateRequest, ImageInput
from veokit.server.errors import ApiError
from veokit.server.fetch import ImageFetcher

IMAGE_FIELDS = ("input_reference", "last_frame", "reference_images")
TEXT_FIELDS = ("prompt", "model", "negative_prompt", "person_generation", "provider")
CREATE_FIELDS = frozenset({*IMAGE_FIELDS, *TEXT_FIELDS, "seconds", "size", "seed", "generate_audio", "enhance_prompt"})
EXTEND_FIELDS = frozenset({"prompt", "seconds", "video", "model", "negative_prompt", "seed"})
MAX_FILES = 5
MAX_FIELDS = 50


@dataclass
class Body:
    """A request body's fields (JSON values, or form strings) and uploads, and a hash of all of it."""

    fields: dict[str, Any]
    files: dict[str, list[tuple[str | None, bytes]]] = field(default_factory=dict)

    def digest(self) -> str:
        doc = {
            "fields": self.fields,
            "files": {k: [hashlib.sha256(data).hexdigest() for _, data in v] for k, v in sorted(self.files.items())},
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


async def read_body(request: Request) -> Body:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await _read_form(request)
    if kind in ("application/json", ""):
        try:
            doc = json.loads(await request.body() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, "the body is not valid JSON", code="invalid_json") from None
        if not isinstance(doc, dict):
            raise ApiError(400, "the body must be a JSON object", code="invalid_json")
        return Body(doc)
    raise ApiError(415, f"send multipart/form-data or application/json, not {kind!r}", code="unsupported_media_type")


async def _read_form(request: Request) -> Body:
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    except ApiError:
        raise  # the body limit, enforced while reading
    except Exception as exc:  # python-multipart's and Starlette's parse errors have no common base
        raise ApiError(400, f"the form data cannot be read ({type(exc).__name__})", code="invalid_form") from None
    body = Body({})
    for name, value in form.multi_items():
        # The SDK sends an object field as `input_reference[image_url]`.
        base, _, sub = name.partition("[")
        if isinstance(value, UploadFile):
            body.files.setdefault(base, []).append((value.filename, await value.read()))
        elif sub:
            body.fields.setdefault(base, {})[sub.rstrip("]")] = value
        elif base == "reference_images":
            body.fields.setdefault(base, []).append(value)
        else:
            body.fields[base] = value
    await form.close()
    return body


def check_known(body: Body, known: frozenset[str]) -> None:
    unknown = sorted((set(body.fields) | set(body.files)) - known)
    if unknown:
        raise ApiError(
            400,
            f"Unknown parameter: {unknown[0]!r} (accepted: {', '.join(sorted(known))})",
            code="unknown_parameter",
            param=unknown[0],
        )


def size_map(catalog: Catalog) -> dict[str, tuple[str, str]]:
    """``"1280x720"`` → ``("16:9", "720p")``, from the catalog's dimensions."""
    return {f"{w}x{h}": (aspect, res) for res, by in catalog.dimensions.items() for aspect, (w, h) in by.items()}


def size_of(catalog: Catalog, aspect_ratio: str, resolution: str) -> str:
    try:
        w, h = catalog.dims(resolution, aspect_ratio)
    except KeyError:
        return "1280x720"
    return f"{w}x{h}"


async def build_request(body: Body, catalog: Catalog, fetcher: ImageFetcher) -> tuple[GenerateRequest, str | None]:
    """The request and the provider asked for (None: the service's default)."""
    check_known(body, CREATE_FIELDS)
    f = body.fields
    values: dict[str, Any] = {}
    for name in ("prompt", "model", "negative_prompt", "person_generation"):
        if f.get(name) not in (None, ""):
            values[name] = _text(name, f[name])
    if "prompt" not in values:
        raise ApiError(400, "prompt: a prompt is required", code="missing_required_parameter", param="prompt")
    if f.get("seconds") not in (None, ""):
        values["duration_seconds"] = whole("seconds", f["seconds"])
    if f.get("size") not in (None, ""):
        sizes = size_map(catalog)
        size = str(f["size"]).strip().lower()
        if size not in sizes:
            raise ApiError(
                400,
                f"size: {f['size']!r} is not supported (allowed: {', '.join(sizes)})",
                code="invalid_value",
                param="size",
            )
        values["aspect_ratio"], values["resolution"] = sizes[size]
    if f.get("seed") not in (None, ""):
        values["seed"] = whole("seed", f["seed"])
    for name in ("generate_audio", "enhance_prompt"):
        if f.get(name) not in (None, ""):
            values[name] = _flag(name, f[name])
    images = {name: await _images(name, body, fetcher) for name in IMAGE_FIELDS}
    if images["input_reference"]:
        values["image"] = _one("input_reference", images["input_reference"])
    if images["last_frame"]:
        values["last_frame"] = _one("last_frame", images["last_frame"])
    if images["reference_images"]:
        values["reference_images"] = tuple(images["reference_images"])
    provider = _text("provider", f["provider"]) if f.get("provider") not in (None, "") else None
    if provider is not None and provider not in (*PROVIDERS, AUTO):  # the caller's mistake (400), not the service's
        known = ", ".join((*PROVIDERS, AUTO))
        raise E.InvalidRequest(f"provider: unknown provider {provider!r}; choose one of {known}", field="provider")
    return GenerateRequest.build(**values), provider


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ApiError(400, f"{name}: must be a string", code="invalid_type", param=name)
    return value


def whole(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(400, f"{name}: {value!r} is not a whole number", code="invalid_type", param=name)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ApiError(400, f"{name}: {value!r} is not a whole number", code="invalid_type", param=name) from None


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ApiError(400, f"{name}: {value!r} is not true or false", code="invalid_type", param=name)


def _one(name: str, images: list[ImageInput]) -> ImageInput:
    if len(images) > 1:
        raise ApiError(400, f"{name}: one image, not {len(images)}", code="invalid_value", param=name)
    return images[0]


async def _images(name: str, body: Body, fetcher: ImageFetcher) -> list[ImageInput]:
    """Uploads first, then references (``{"image_url": …}``, a bare URL string, or a list of either)."""
    out = [ImageInput.from_bytes(data, name=filename, field=name) for filename, data in body.files.get(name, [])]
    given = body.fields.get(name)
    refs = given if isinstance(given, list) else [] if given in (None, "") else [given]
    for ref in refs:
        url = ref.get("image_url") if isinstance(ref, dict) else ref
        if isinstance(ref, dict) and ref.get("file_id"):
            raise ApiError(
                400,
                f"{name}: file ids are not supported here; upload the image or give its image_url",
                code="invalid_value",
                param=name,
            )
        if not isinstance(url, str) or not url.strip():
            raise ApiError(400, f'{name}: expected an upload or {{"image_url": URL}}', code="invalid_type", param=name)
        out.append(ImageInput.from_bytes(await fetcher.fetch(url, field=name), field=name))
    for image in out:
        _decodable(image, name)
    return out


def _decodable(image: ImageInput, name: str) -> None:
    """The bytes decode as the image their first bytes claim (a truncated or forged file would be paid for)."""
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            opened.verify()
    except Exception:  # Pillow raises many types for a damaged file
        raise E.UnsupportedMedia(
            f"{name}: {image.name or 'the image'} is not a readable {image.mime_type.split('/')[1].upper()} image",
            field=name,
        ) from None
