"""The model catalog: capabilities, prices and lifecycle, read from ``catalog.toml``.

Validation happens here, before any network call, so an impossible request never costs money and the
error can name the field and what the model allows.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from veokit.errors import InvalidRequest, ModelNotFound, ModelRetired
from veokit.models.job import Usage
from veokit.models.request import AnyRequest, GenerateRequest


class PriceRate(BaseModel):
    audio: float
    silent: float


class TokenPrice(BaseModel):
    """A model billed by tokens (Gemini Omni), not by seconds: list prices per million tokens and how many
    tokens a second of video is, so estimates can be quoted per second and actual costs read from ``usage``."""

    model_config = ConfigDict(frozen=True)

    video_output_usd_per_million: float
    text_output_usd_per_million: float  # text and thinking tokens the model writes besides the video
    input_usd_per_million: float
    video_tokens_per_second: dict[str, int]  # output tokens per second of video, by resolution
    image_input_tokens: int  # per input image (frames, references)
    video_input_tokens_per_second: int  # a video given as context (extension)
    extension_context_s: float  # at most this much of the video to extend is read as context
    chars_per_text_token: float = 4.0
    source: str
    checked: dt.date

    def usd_per_second(self, resolution: str) -> float:
        return self.video_tokens_per_second[resolution] * self.video_output_usd_per_million / 1e6

    def input_tokens(self, request: GenerateRequest) -> int:
        """What the request's inputs will count as: the prompt, each image, and the context of an extension."""
        images = sum(1 for i in (request.image, request.last_frame) if i is not None) + len(request.reference_images)
        text = math.ceil(len(request.prompt) / self.chars_per_text_token)
        video = self.video_input_tokens_per_second * self.extension_context_s if request.video is not None else 0
        return int(text + images * self.image_input_tokens + video)

    def cost(self, usage: Usage) -> float:
        """The bill for an interaction's reported ``usage``."""
        return round(
            (
                usage.video_output_tokens * self.video_output_usd_per_million
                + usage.other_output_tokens * self.text_output_usd_per_million
                + usage.input_tokens * self.input_usd_per_million
            )
            / 1e6,
            6,
        )


class Lifecycle(BaseModel):
    status: Literal["ga", "preview", "retired"]
    released_on: dt.date | None = None
    deprecation_from: dt.date | None = None
    retired_on: dt.date | None = None
    replacement: str | None = None
    replacement_provider: str | None = None
    note: str | None = None

    def is_retired(self, today: dt.date) -> bool:
        if self.retired_on is not None:
            return today >= self.retired_on
        return self.status == "retired"

    def label(self, today: dt.date) -> str:
        if self.is_retired(today):
            return f"retired {self.retired_on}" if self.retired_on else "retired"
        if self.deprecation_from and today >= self.deprecation_from:
            return f"{self.status.upper()}, deprecated from {self.deprecation_from}"
        return self.status.upper()


class Offer(BaseModel):
    """One model as one provider sells it."""

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    title: str
    # The same model as sold elsewhere (failover, auto-routing): explicit in the data, or derived from a
    # Google model id ("veo-3.1-fast-generate-001" and "-preview" are both "veo-3.1-fast").
    family: str | None = None
    durations: list[int]
    resolutions: list[str]
    aspect_ratios: list[str]
    needs_8s: list[str] = Field(default_factory=list)
    resolution_aspects: dict[str, list[str]] = Field(default_factory=dict)
    extension_resolutions: list[str] | None = None
    # One extension step adds this much to a video of at most max_extension_input_s (Veo 3.1: 7 s onto at most
    # 141 s, so a chain ends at 148 s [VEO]); storyboards plan extension chains against these.
    extension_adds_s: int = 7
    max_extension_input_s: float = 141.0
    audio: Literal["optional", "always", "none"]
    features: list[str]
    max_reference_images: int = 0
    sample_count: tuple[int, int]
    latency_s: tuple[float, float, float]
    person_generation: dict[str, list[str]]
    price: dict[str, PriceRate]
    price_source: str | None = None
    lifecycle: Lifecycle
    # Where task-based resellers (Kie, fal, Replicate) differ from Google, so requests are checked before sending:
    credits: dict[str, float] | None = None  # credits per clip by resolution (Kie); USD price derived from them
    clip_seconds: int = 8  # the clip length ``credits`` are quoted for
    feature_aspects: dict[str, list[str]] = Field(default_factory=dict)  # a feature limited to some ratios
    mixed_inputs: bool = True  # False: frames, reference images and extension cannot share one request
    negative_prompt: bool = True  # False: the API has no negative-prompt field (Kie)
    extension_input: str | None = None  # URI prefix the video to extend must carry (Kie: "kie-task:")
    # A URI scheme naming an earlier operation of this provider, extended by reference instead of by its video
    # (Omni: "omni-interaction:"); accepted besides video URIs and bytes.
    extension_reference: str | None = None
    feature_max_seconds: dict[str, int] = Field(default_factory=dict)  # a feature limited to shorter videos
    token_price: TokenPrice | None = None  # billed by tokens; ``price`` is then derived per second from it

    @property
    def model_family(self) -> str:
        if self.family:
            return self.family
        return re.sub(r"-generate(-\d+|-preview|-exp)?$", "", self.model)

    def rate(self, resolution: str, audio: bool) -> float:
        r = self.price[resolution]
        return r.audio if audio else r.silent

    def audio_on(self, request: AnyRequest) -> bool:
        if self.audio == "always":
            return True
        if self.audio == "none":
            return False
        return request.generate_audio is not False


@dataclass(frozen=True)
class Estimate:
    """What a request will cost if every sample is delivered (filtered or failed jobs cost 0)."""

    provider: str
    model: str
    seconds: int
    samples: int
    rate_per_second: float
    audio: bool
    total_usd: float
    credits: float | None = None  # for providers that bill in credits (Kie)
    # For models billed by tokens (Omni): the video tokens expected, their price, and the inputs' price.
    video_tokens: int | None = None
    usd_per_million: float | None = None
    input_usd: float = 0.0

    def describe(self) -> str:
        extra = f", {self.credits:g} credits" if self.credits is not None else ""
        if self.video_tokens is not None:
            extra += f"; {self.video_tokens:,} video tokens at ${self.usd_per_million:.2f}/M"
        inputs = f" + ${self.input_usd:.4f} input" if self.input_usd >= 0.00005 else ""
        return (
            f"${self.total_usd:.2f} = {self.samples} x {self.seconds} s x ${_usd(self.rate_per_second)}/s{inputs}"
            f" ({self.model} on {self.provider}, {'with' if self.audio else 'no'} audio{extra})"
        )


def _usd(amount: float) -> str:
    """Cents where that is exact (Veo's list prices), else four places (a token-priced second: $0.1014)."""
    return f"{amount:.2f}" if abs(amount * 100 - round(amount * 100)) < 1e-9 else f"{amount:.4f}"


class Catalog:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.meta: dict[str, Any] = doc.get("meta", {})
        self.providers: dict[str, dict[str, Any]] = doc.get("providers", {})
        self.token_prices: dict[str, dict[str, Any]] = doc.get("token_prices", {})
        self.dimensions: dict[str, dict[str, tuple[int, int]]] = {
            res: {ar: (int(wh[0]), int(wh[1])) for ar, wh in by_ar.items()}
            for res, by_ar in doc.get("resolutions", {}).items()
        }
        self.offers: list[Offer] = [Offer.model_validate(self._priced(o)) for o in doc.get("offer", [])]
        self._by_key = {(o.provider, o.model): o for o in self.offers}

    def _priced(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Offers priced in credits or tokens get a USD price per second (from their provider's
        ``usd_per_credit``, or their token table), so estimates, routing and cost records all compare dollars."""
        if isinstance(raw.get("token_price"), str):
            table = TokenPrice.model_validate(self.token_prices[raw["token_price"]])
            raw = {**raw, "token_price": table}
            if "price" not in raw:
                rates = {res: table.usd_per_second(res) for res in raw.get("resolutions", [])}
                raw["price"] = {res: {"audio": r, "silent": r} for res, r in rates.items()}
            return raw
        if "price" in raw or not raw.get("credits"):
            return raw
        per_credit = float(self.providers[raw["provider"]]["usd_per_credit"])
        clip = int(raw.get("clip_seconds", 8))
        rates = {res: float(c) * per_credit / clip for res, c in raw["credits"].items()}
        return {**raw, "price": {res: {"audio": r, "silent": r} for res, r in rates.items()}}

    @classmethod
    def load(cls, path: Path | None = None) -> Catalog:
        if path is None:
            text = resources.files("veokit.models").joinpath("catalog.toml").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        return cls(tomllib.loads(text))

    # -- look-ups -----------------------------------------------------------------------------------------
    def models_for(self, provider: str) -> list[Offer]:
        return [o for o in self.offers if o.provider == provider]

    def find(self, provider: str, model: str) -> Offer | None:
        return self._by_key.get((provider, model))

    def offer(self, provider: str, model: str, *, today: dt.date | None = None, allow_retired: bool = False) -> Offer:
        """The offer for (provider, model), or a typed error saying what to use instead."""
        today = today or dt.date.today()
        found = self.find(provider, model) or self.find_family(provider, model)
        if found is None:
            family = self.family_of(model)
            elsewhere = sorted({o.provider for o in self.offers if o.model == model or o.model_family == family})
            live = [o.model for o in self.models_for(provider) if not o.lifecycle.is_retired(today)]
            hint = f"; it is offered by: {', '.join(elsewhere)}" if elsewhere else ""
            raise ModelNotFound(
                f"model: {model!r} is not a {provider} model{hint}. Available on {provider}: "
                f"{', '.join(live) or 'none'}",
                field="model",
                allowed=live,
                provider=provider,
            )
        lc = found.lifecycle
        if lc.is_retired(today) and not allow_retired:
            where = f" on {lc.replacement_provider}" if lc.replacement_provider else ""
            repl = f" Use {lc.replacement}{where} instead." if lc.replacement else ""
            note = f" ({lc.note})" if lc.note else ""
            raise ModelRetired(
                f"model: {model} on {provider} was retired on {lc.retired_on} and is no longer available.{repl}{note}",
                field="model",
                allowed=[lc.replacement] if lc.replacement else [],
                replacement=lc.replacement,
                provider=provider,
            )
        return found

    def family_of(self, model: str) -> str:
        """Any provider's model id, or a family name, to the family (``veo3_fast`` -> ``veo-3.1-fast``)."""
        for o in self.offers:
            if o.model == model:
                return o.model_family
        return model

    def find_family(self, provider: str, model: str) -> Offer | None:
        """``provider``'s offer of the same family as ``model``: a request may name a Google model id or a
        family, and each reseller sells it under its own id."""
        family = self.family_of(model)
        return next((o for o in self.models_for(provider) if o.model_family == family), None)

    def dims(self, resolution: str, aspect_ratio: str) -> tuple[int, int]:
        return self.dimensions[resolution][aspect_ratio]

    # -- validation and price -----------------------------------------------------------------------------
    def validate(
        self, request: GenerateRequest, provider: str, *, today: dt.date | None = None, allow_retired: bool = False
    ) -> Offer:
        """Raise :class:`InvalidRequest` naming the field and the allowed values, or return the offer."""
        if request.model is None:
            raise InvalidRequest("model: no model given", field="model")
        o = self.offer(provider, request.model, today=today, allow_retired=allow_retired)
        m = o.model

        def bad(field: str, msg: str, allowed: list[Any]) -> InvalidRequest:
            shown = ", ".join(str(a) for a in allowed) or "none"
            return InvalidRequest(
                f"{field}: {msg} (allowed for {m}: {shown})", field=field, allowed=allowed, provider=provider
            )

        if request.aspect_ratio not in o.aspect_ratios:
            raise bad("aspect_ratio", f"{request.aspect_ratio} is not supported", o.aspect_ratios)
        if request.resolution not in o.resolutions:
            raise bad("resolution", f"{request.resolution} is not supported", o.resolutions)
        if request.duration_seconds not in o.durations:
            raise bad("duration_seconds", f"{request.duration_seconds} s is not supported", o.durations)
        limited = o.resolution_aspects.get(request.resolution)
        if limited and request.aspect_ratio not in limited:
            raise bad("aspect_ratio", f"{request.resolution} is only available at", limited)
        for feature in request.features():
            if feature not in o.features:
                field = {
                    "image_to_video": "image",
                    "first_last_frame": "last_frame",
                    "reference_images": "reference_images",
                    "extension": "video",
                }.get(feature, "prompt")
                raise bad(field, f"{feature.replace('_', ' ')} is not supported", o.features)
        if len(request.reference_images) > o.max_reference_images:
            raise bad(
                "reference_images",
                f"{len(request.reference_images)} reference images is too many",
                list(range(o.max_reference_images + 1)),
            )
        needing = [f for f in (request.resolution, *request.features()) if f in o.needs_8s]
        if needing and request.duration_seconds != 8:
            raise bad(
                "duration_seconds",
                f"{needing[0].replace('_', ' ')} needs an 8 s video, not {request.duration_seconds} s",
                [8],
            )
        if (
            request.video is not None
            and o.extension_resolutions is not None
            and request.resolution not in o.extension_resolutions
        ):
            raise bad("resolution", "extension only outputs", o.extension_resolutions)
        lo, hi = o.sample_count
        if not lo <= request.sample_count <= hi:
            raise bad(
                "sample_count", f"{request.sample_count} videos per request is not supported", list(range(lo, hi + 1))
            )
        if request.generate_audio is False and o.audio == "always":
            raise bad("generate_audio", "this model always generates audio", [True])
        if request.generate_audio is True and o.audio == "none":
            raise bad("generate_audio", "this model is silent", [False])
        if request.person_generation is not None:
            allowed_pg = o.person_generation.get(request.mode, [])
            if request.person_generation not in allowed_pg:
                raise bad(
                    "person_generation",
                    f"{request.person_generation} is not accepted for {request.mode.replace('_', ' ')}",
                    allowed_pg,
                )
        meta = self.providers.get(provider, {})
        if request.storage_uri is not None and not meta.get("storage_uri", False):
            writers = [name for name, m in self.providers.items() if m.get("storage_uri")]
            raise InvalidRequest(
                f"storage_uri: {provider} does not write results to Cloud Storage "
                f"(only {', '.join(writers)} {'does' if len(writers) == 1 else 'do'})",
                field="storage_uri",
                provider=provider,
            )
        if request.video is not None and request.video.data is not None and not meta.get("extends_uploads", True):
            raise InvalidRequest(
                f"video: {provider} extends only videos it generated (pass their URI)", field="video", provider=provider
            )
        for feature in request.features():
            limit = o.feature_max_seconds.get(feature)
            if limit is not None and request.duration_seconds > limit:
                raise bad(
                    "duration_seconds",
                    f"{feature.replace('_', ' ')} allows at most {limit} s, not {request.duration_seconds} s",
                    [d for d in o.durations if d <= limit],
                )
        self._reseller_checks(request, o, bad)
        return o

    def _reseller_checks(self, request: GenerateRequest, o: Offer, bad: Callable[..., InvalidRequest]) -> None:
        """Limits of the task-based resellers that Google's models do not have."""
        for feature in request.features():
            limited = o.feature_aspects.get(feature)
            if limited and request.aspect_ratio not in limited:
                raise bad("aspect_ratio", f"{feature.replace('_', ' ')} is only available at", limited)
        if not o.mixed_inputs:
            modes = [
                name
                for name, used in (
                    ("first/last frames", request.image is not None),
                    ("reference images", bool(request.reference_images)),
                    ("extension", request.video is not None),
                )
                if used
            ]
            if len(modes) > 1:
                raise bad(
                    "reference_images" if "reference images" in modes else "video",
                    f"{modes[0]} and {modes[1]} cannot be combined in one request",
                    [],
                )
        if request.negative_prompt and not o.negative_prompt:
            raise bad("negative_prompt", "a negative prompt is not supported", [])
        if request.video is not None:
            uri = request.video.uri or ""
            if o.extension_input and not uri.startswith(o.extension_input):
                raise bad(
                    "video",
                    f"only videos this provider made can be extended: pass {o.extension_input}//<id>",
                    [f"{o.extension_input}//<id>"],
                )
            own = {o.extension_input, o.extension_reference}
            foreign = [
                scheme
                for x in self.offers
                for scheme in (x.extension_input, x.extension_reference)
                if scheme and scheme not in own and uri.startswith(scheme)
            ]
            if foreign:
                raise bad("video", f"{foreign[0]} videos can only be extended where they were made", [])

    def estimate(self, request: GenerateRequest, offer: Offer) -> Estimate:
        audio = offer.audio_on(request)
        rate = offer.rate(request.resolution, audio)
        seconds = request.duration_seconds
        total = round(rate * seconds * request.sample_count, 4)
        credits = None
        if offer.credits and request.resolution in offer.credits:
            credits = offer.credits[request.resolution] * seconds / offer.clip_seconds * request.sample_count
        tp = offer.token_price
        if tp is None:
            return Estimate(offer.provider, offer.model, seconds, request.sample_count, rate, audio, total, credits)
        # Token-billed: the video's tokens at the list rate (as the seconds above) plus the inputs' tokens.
        tokens = tp.video_tokens_per_second[request.resolution] * seconds * request.sample_count
        input_usd = round(tp.input_tokens(request) * tp.input_usd_per_million / 1e6, 6)
        return Estimate(
            offer.provider,
            offer.model,
            seconds,
            request.sample_count,
            rate,
            audio,
            round(total + input_usd, 4),
            credits,
            video_tokens=tokens,
            usd_per_million=tp.video_output_usd_per_million,
            input_usd=input_usd,
        )

    def equivalent(
        self, provider: str, model: str, to_provider: str, *, today: dt.date | None = None, allow_retired: bool = False
    ) -> Offer | None:
        """The live offer of the same model family on ``to_provider``, if it sells one."""
        today = today or dt.date.today()
        src = self.find(provider, model)
        family = src.model_family if src else model
        for o in self.models_for(to_provider):
            if o.model_family == family and (allow_retired or not o.lifecycle.is_retired(today)):
                return o
        return None

    def default_model(self, provider: str) -> str:
        return str(self.providers[provider]["default_model"])

    def retention_days(self, provider: str) -> int:
        return int(self.providers.get(provider, {}).get("retention_days", 2))


@cache
def default_catalog() -> Catalog:
    return Catalog.load()
