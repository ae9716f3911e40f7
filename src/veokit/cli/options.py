"""The request options `generate` and `enqueue` share, declared once, and the request they build."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from veokit.errors import InvalidRequest
from veokit.models.request import GenerateRequest, ImageInput
from veokit.service import ExtensionSource, VeoClient, extension_request
from veokit.service.extension import is_job_id
from veokit.service.providers import specs


def _options_help() -> str:
    known = "; ".join(f"{s.name}: {', '.join(o.name for o in s.options)}" for s in specs() if s.options and s.auto)
    return f"A provider's own option, NAME=VALUE (repeatable). {known}."


Prompt = Annotated[str, typer.Argument(help="What the video should show.")]
Image = Annotated[Path | None, typer.Option("--image", help="First frame (PNG/JPEG/WebP).")]
LastFrame = Annotated[Path | None, typer.Option("--last-frame", help="Last frame (needs --image).")]
Refs = Annotated[list[Path] | None, typer.Option("--ref", help="Reference image (asset); up to 3.")]
Extend = Annotated[
    str | None,
    typer.Option(
        "--extend",
        help="Video to extend: a local MP4, a provider URI, or a job id (job_…; on Veo 720p, up to 141 s).",
    ),
]
Model = Annotated[str | None, typer.Option("--model", "-m")]
Aspect = Annotated[
    str | None, typer.Option("--aspect", "-a", help="16:9 (default) or 9:16; an extension keeps its video's.")
]
Resolution = Annotated[
    str | None,
    typer.Option(
        "--resolution",
        "-r",
        help="720p (default), 1080p or 4k (360p on Gemini Omni); an extension keeps its video's where the model does.",
    ),
]
Duration = Annotated[int, typer.Option("--duration", "-d", help="Seconds: 4, 6 or 8 (Veo); 3 to 15 (Gemini Omni).")]
Seed = Annotated[int | None, typer.Option("--seed")]
Negative = Annotated[str | None, typer.Option("--negative", help="What to avoid.")]
Samples = Annotated[int, typer.Option("--samples", "-n", help="Videos per request.")]
NoAudio = Annotated[bool, typer.Option("--no-audio", help="Silent video (cheaper where offered).")]
PersonGeneration = Annotated[str | None, typer.Option("--person-generation")]
EnhancePrompt = Annotated[bool | None, typer.Option("--enhance-prompt/--no-enhance-prompt")]
StorageUri = Annotated[str | None, typer.Option("--storage-uri", help="gs:// output prefix (Vertex).")]
ProviderOptions = Annotated[list[str] | None, typer.Option("--option", metavar="NAME=VALUE", help=_options_help())]
Out = Annotated[Path | None, typer.Option("--out", "-o", help="Directory for the MP4s.")]
Json = Annotated[bool, typer.Option("--json", help="Print the job as JSON.")]


def request_fields(
    *,
    prompt: str,
    image: Path | None,
    last_frame: Path | None,
    ref: list[Path] | None,
    model: str | None,
    aspect: str | None,
    resolution: str | None,
    duration: int,
    seed: int | None,
    negative: str | None,
    samples: int,
    no_audio: bool,
    person_generation: str | None,
    enhance_prompt: bool | None,
    storage_uri: str | None,
    option: list[str] | None = None,
) -> dict[str, Any]:
    """Command-line options → request fields, images read (typed errors name the option's field)."""
    return {
        "prompt": prompt,
        "model": model,
        "aspect_ratio": aspect,
        "resolution": resolution,
        "duration_seconds": duration,
        "seed": seed,
        "negative_prompt": negative,
        "sample_count": samples,
        "generate_audio": False if no_audio else None,
        "person_generation": person_generation,
        "enhance_prompt": enhance_prompt,
        "storage_uri": storage_uri,
        "image": ImageInput.from_path(image, field="image") if image else None,
        "last_frame": ImageInput.from_path(last_frame, field="last_frame") if last_frame else None,
        "reference_images": tuple(ImageInput.from_path(p, field="reference_images") for p in ref or []),
        "options": parse_options(option),
    }


def needs_store(extend: str | None) -> bool:
    """Whether building the request reads the job store: ``--extend job_…`` extends a recorded job."""
    return bool(extend) and is_job_id(str(extend).strip())


async def build_request(
    client: VeoClient, fields: dict[str, Any], extend: str | None, provider: str | None
) -> tuple[GenerateRequest, str | None, ExtensionSource | None]:
    """The request, the provider to plan it for, and what it extends (for :meth:`VeoClient.plan`'s ``extending``).

    ``--extend`` goes through the service's extension rules (a local MP4 is probed; a job's video is taken from
    the provider while it keeps it): the continuation keeps the source's aspect ratio, and runs where the source
    job ran unless ``--provider`` says otherwise."""
    if not extend:
        defaults = {"aspect_ratio": fields["aspect_ratio"] or "16:9", "resolution": fields["resolution"] or "720p"}
        return GenerateRequest.build(**{**fields, **defaults}), provider, None
    source = await client.extension_source(extend, provider=provider)
    return extension_request(source, **fields), provider or source.provider, source


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """``["watermark=ACME", "enableTranslation=false"]`` → a dict; the provider checks names and values."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidRequest(f"--option: {pair!r} is not NAME=VALUE", field="options")
        if name in out:
            raise InvalidRequest(f"--option: {name} given twice", field=f"options.{name}")
        out[name] = value
    return out
