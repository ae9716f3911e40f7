"""The request options `generate` and `enqueue` share, declared once, and the request they build."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from veokit.errors import InvalidRequest
from veokit.service.providers import specs

# The request model and the service layer are imported where a command uses them: `veokit --help` loads
# neither (tests/unit/test_cli_startup.py).
if TYPE_CHECKING:
    from veokit.models.request import GenerateRequest
    from veokit.service import ExtensionSource, VeoClient


def complete_provider(incomplete: str) -> list[str]:
    """Shell completion for ``--provider``: the providers veokit knows, and ``auto``."""
    from veokit.config import AUTO, PROVIDERS

    return [p for p in (*PROVIDERS, AUTO) if p.startswith(incomplete)]


def provider_option(help: str) -> Any:
    """``--provider/-p NAME`` with completion; each command says what it picks."""
    return typer.Option(
        "--provider", "-p", autocompletion=complete_provider, metavar="NAME", help=help, show_default=False
    )


def complete_state(incomplete: str) -> list[str]:
    from veokit.models.job import JobState

    return [s.value for s in JobState if s.value.startswith(incomplete)]


def _options_help() -> str:
    known = "; ".join(f"{s.name}: {', '.join(o.name for o in s.options)}" for s in specs() if s.options and s.auto)
    return f"A provider's own option, NAME=VALUE (repeatable). {known}."


Prompt = Annotated[
    str | None,
    typer.Argument(
        help="What the video should show; - reads it from stdin (or use --prompt-file).",
        show_default=False,
        metavar="PROMPT",
    ),
]
PromptFile = Annotated[
    Path | None,
    typer.Option(
        "--prompt-file", "-f", metavar="FILE", help="Read the prompt from this file (- for stdin).", show_default=False
    ),
]
Image = Annotated[
    Path | None,
    typer.Option("--image", "-i", metavar="FILE", help="First frame: a PNG, JPEG or WebP file.", show_default=False),
]
LastFrame = Annotated[
    Path | None, typer.Option("--last-frame", metavar="FILE", help="Last frame (needs --image).", show_default=False)
]
Refs = Annotated[
    list[Path] | None,
    typer.Option("--ref", metavar="FILE", help="Reference image (asset); up to 3, repeatable.", show_default=False),
]
Extend = Annotated[
    str | None,
    typer.Option(
        "--extend",
        metavar="VIDEO",
        help="Video to extend: a local MP4, a provider URI, or a job id (job_…; on Veo 720p, up to 141 s).",
        show_default=False,
    ),
]
Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        metavar="MODEL",
        help="Model id or family (`veokit models` lists them). Default: the provider's default model. "
        "Env: VEOKIT_MODEL.",
        show_default=False,
    ),
]
Aspect = Annotated[
    str | None,
    typer.Option(
        "--aspect",
        "-a",
        metavar="RATIO",
        help="16:9 or 9:16; an extension keeps its video's. Default: 16:9.",
        show_default=False,
    ),
]
Resolution = Annotated[
    str | None,
    typer.Option(
        "--resolution",
        "-r",
        metavar="RES",
        help="720p (default), 1080p or 4k (360p on Gemini Omni; the model decides which); an extension keeps its "
        "video's where the model does.",
        show_default=False,
    ),
]
Duration = Annotated[
    int,
    typer.Option(
        "--duration",
        "-d",
        metavar="SECONDS",
        help="Seconds: 4, 6 or 8 on Veo; 3 to 15 on Gemini Omni (the model decides).",
    ),
]
Seed = Annotated[
    int | None,
    typer.Option(
        "--seed",
        metavar="N",
        help="0 to 4294967295: the same request and seed reuses an earlier video for $0 (see --fresh). "
        "Default: random.",
        show_default=False,
    ),
]
Negative = Annotated[str | None, typer.Option("--negative", metavar="TEXT", help="What to avoid.", show_default=False)]
Samples = Annotated[
    int, typer.Option("--samples", "-n", metavar="N", help="Videos per request (1-4; the model decides).")
]
NoAudio = Annotated[bool, typer.Option("--no-audio", help="Silent video (cheaper where offered).")]
PersonGeneration = Annotated[
    str | None,
    typer.Option(
        "--person-generation",
        metavar="MODE",
        help="allow_adult, allow_all or dont_allow (the model and input decide which). Default: the provider's.",
        show_default=False,
    ),
]
EnhancePrompt = Annotated[
    bool | None,
    typer.Option(
        "--enhance-prompt/--no-enhance-prompt",
        help="Let the provider rewrite the prompt for detail. Default: the provider's.",
        show_default=False,
    ),
]
StorageUri = Annotated[
    str | None,
    typer.Option("--storage-uri", metavar="URI", help="gs:// output prefix (Vertex only).", show_default=False),
]
ProviderOptions = Annotated[
    list[str] | None, typer.Option("--option", metavar="NAME=VALUE", help=_options_help(), show_default=False)
]
Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        metavar="DIR",
        help="Directory for the MP4s. Default: ./videos. Env: VEOKIT_OUT_DIR.",
        show_default=False,
    ),
]


def _provider_help() -> str:
    from veokit.config import PROVIDERS

    return (
        f"{', '.join(PROVIDERS)}, or auto (the cheapest that can). Default: the one with credentials. "
        "Env: VEOKIT_PROVIDER."
    )


Provider = Annotated[
    str | None,
    provider_option(_provider_help()),
]
Fresh = Annotated[
    bool,
    typer.Option(
        "--fresh",
        help="Generate even if this exact request and seed already succeeded (default: reuse that video for $0).",
    ),
]
Json = Annotated[bool, typer.Option("--json", help='Print JSON on stdout (errors too, as {"error": ...}).')]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only ids and paths on stdout; no progress.")]


def read_prompt(prompt: str | None, prompt_file: Path | None, read_stdin: Callable[[], str]) -> str:
    """The prompt from the argument, ``-`` (stdin) or ``--prompt-file``; exactly one of them."""
    if prompt is not None and prompt_file is not None:
        raise InvalidRequest("give the prompt either as an argument or with --prompt-file, not both", field="prompt")
    if prompt_file is not None:
        if str(prompt_file) == "-":
            text = read_stdin()
        elif prompt_file.is_dir():
            raise InvalidRequest(f"--prompt-file: {prompt_file} is a directory", field="prompt")
        else:
            try:
                text = prompt_file.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise InvalidRequest(f"--prompt-file: no such file: {prompt_file}", field="prompt") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidRequest(f"--prompt-file: cannot read {prompt_file}: {exc}", field="prompt") from None
    elif prompt == "-":
        text = read_stdin()
    elif prompt is None:
        raise InvalidRequest("a prompt is needed: an argument, - for stdin, or --prompt-file FILE", field="prompt")
    else:
        text = prompt
    text = text.strip()
    if not text:
        raise InvalidRequest("the prompt is empty", field="prompt")
    return text


def request_fields(
    *,
    prompt: str | None,
    prompt_file: Path | None = None,
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
    from veokit.models.request import ImageInput

    return {
        "prompt": read_prompt(prompt, prompt_file, sys.stdin.read),
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
    from veokit.service.extension import is_job_id

    return bool(extend) and is_job_id(str(extend).strip())


async def build_request(
    client: VeoClient, fields: dict[str, Any], extend: str | None, provider: str | None
) -> tuple[GenerateRequest, str | None, ExtensionSource | None]:
    """The request, the provider to plan it for, and what it extends (for :meth:`VeoClient.plan`'s ``extending``).

    ``--extend`` goes through the service's extension rules (a local MP4 is probed; a job's video is taken from
    the provider while it keeps it): the continuation keeps the source's aspect ratio, and runs where the source
    job ran unless ``--provider`` says otherwise."""
    from veokit.models.request import GenerateRequest
    from veokit.service import extension_request

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
