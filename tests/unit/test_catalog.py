"""Validation before spending: every impossible request fails naming the field and what is allowed."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image

from veokit import errors as E
from veokit.models.catalog import Catalog, default_catalog
from veokit.models.job import Usage
from veokit.models.request import GenerateRequest, ImageInput, VideoInput

TODAY = dt.date(2026, 11, 21)


def png(color: str = "red") -> ImageInput:
    buf = io.BytesIO()
    Image.new("RGB", (64, 36), color).save(buf, "PNG")
    return ImageInput.from_bytes(buf.getvalue())


def req(**kw: object) -> GenerateRequest:
    return GenerateRequest.build(**{"prompt": "a fox", "model": "veo-3.1-generate-001", **kw})


@pytest.fixture
def cat() -> Catalog:
    return default_catalog()


def test_catalog_has_every_reference_model(cat: Catalog) -> None:
    ids = {(o.provider, o.model) for o in cat.offers}
    for m in (
        "veo-3.1-generate-001",
        "veo-3.1-fast-generate-001",
        "veo-3.1-lite-generate-001",
        "veo-3.0-generate-001",
        "veo-3.0-fast-generate-001",
        "veo-2.0-generate-001",
    ):
        assert ("vertex", m) in ids
    for m in ("veo-3.1-generate-preview", "veo-3.1-fast-generate-preview", "veo-3.1-lite-generate-preview"):
        assert ("gemini", m) in ids
    for o in cat.offers:
        assert set(o.price) <= set(o.resolutions) and set(o.resolutions) <= set(o.price), o.model
        assert o.durations and o.aspect_ratios and o.latency_s[0] <= o.latency_s[1] <= o.latency_s[2]


@pytest.mark.parametrize(
    ("kw", "field", "allowed"),
    [
        ({"resolution": "4k", "duration_seconds": 4}, "duration_seconds", [8]),
        ({"resolution": "1080p", "duration_seconds": 6}, "duration_seconds", [8]),
        ({"aspect_ratio": "1:1"}, "aspect_ratio", ["16:9", "9:16"]),
        ({"model": "veo-3.1-lite-generate-001", "resolution": "4k"}, "resolution", ["720p", "1080p"]),
        ({"duration_seconds": 5}, "duration_seconds", [4, 6, 8]),
        ({"sample_count": 4, "model": "veo-3.1-fast-generate-001", "resolution": "720p"}, None, None),
    ],
)
def test_impossible_requests_name_the_field(cat: Catalog, kw: dict, field: str | None, allowed: list | None) -> None:
    r = req(**kw)
    if field is None:
        assert cat.validate(r, "vertex", today=TODAY).model == r.model
        return
    with pytest.raises(E.InvalidRequest) as exc:
        cat.validate(r, "vertex", today=TODAY)
    assert exc.value.field == field
    assert exc.value.allowed == allowed
    assert field in str(exc.value) and "allowed" in str(exc.value)


def test_four_reference_images_is_too_many(cat: Catalog) -> None:
    with pytest.raises(E.InvalidRequest) as exc:
        cat.validate(req(reference_images=(png(), png("blue"), png("green"), png("white"))), "vertex", today=TODAY)
    assert exc.value.field == "reference_images" and exc.value.allowed == [0, 1, 2, 3]


def test_reference_images_need_8s(cat: Catalog) -> None:
    with pytest.raises(E.InvalidRequest, match="8 s") as exc:
        cat.validate(req(reference_images=(png(),), duration_seconds=6), "vertex", today=TODAY)
    assert exc.value.field == "duration_seconds"


def test_lite_has_no_reference_images(cat: Catalog) -> None:
    with pytest.raises(E.InvalidRequest) as exc:
        cat.validate(req(model="veo-3.1-lite-generate-001", reference_images=(png(),)), "vertex", today=TODAY)
    assert exc.value.field == "reference_images"


@pytest.mark.parametrize(
    ("provider", "model", "replacement"),
    [
        ("vertex", "veo-3.0-generate-001", "veo-3.1-generate-001"),
        ("vertex", "veo-2.0-generate-001", "veo-3.1-generate-001"),
        ("gemini", "veo-3.1-fast-generate-preview", "veo-3.1-fast-generate-001"),
    ],
)
def test_retired_model_names_replacement_and_where(cat: Catalog, provider: str, model: str, replacement: str) -> None:
    with pytest.raises(E.ModelRetired) as exc:
        cat.validate(req(model=model), provider, today=TODAY)
    msg = str(exc.value)
    assert "retired" in msg and replacement in msg and "on vertex" in msg
    assert exc.value.field == "model" and exc.value.replacement == replacement


def test_retirement_follows_the_date(cat: Catalog) -> None:
    r = req(model="veo-3.1-generate-preview")
    assert cat.validate(r, "gemini", today=dt.date(2026, 10, 21)).model == "veo-3.1-generate-preview"
    with pytest.raises(E.ModelRetired):
        cat.validate(r, "gemini", today=dt.date(2026, 10, 22))
    assert cat.validate(r, "gemini", today=TODAY, allow_retired=True).model == r.model


def test_unknown_model_lists_alternatives(cat: Catalog) -> None:
    with pytest.raises(E.ModelNotFound) as exc:
        cat.validate(req(model="veo-9"), "vertex", today=TODAY)
    assert "veo-3.1-generate-001" in (exc.value.allowed or [])


def test_gemini_models_always_have_audio(cat: Catalog) -> None:
    with pytest.raises(E.InvalidRequest) as exc:
        cat.validate(
            req(model="veo-3.1-generate-preview", generate_audio=False), "gemini", today=TODAY, allow_retired=True
        )
    assert exc.value.field == "generate_audio"


def test_person_generation_per_mode(cat: Catalog) -> None:
    r = req(model="veo-3.1-generate-preview", person_generation="allow_adult")
    with pytest.raises(E.InvalidRequest) as exc:
        cat.validate(r, "gemini", today=TODAY, allow_retired=True)
    assert exc.value.allowed == ["allow_all"]
    ok = req(model="veo-3.1-generate-preview", person_generation="allow_adult", image=png())
    assert cat.validate(ok, "gemini", today=TODAY, allow_retired=True)


def test_storage_uri_is_vertex_only(cat: Catalog) -> None:
    with pytest.raises(E.InvalidRequest) as exc:
        cat.validate(
            req(model="veo-3.1-generate-preview", storage_uri="gs://b/x"), "gemini", today=TODAY, allow_retired=True
        )
    assert exc.value.field == "storage_uri"


@pytest.mark.parametrize(
    ("kw", "usd"),
    [
        ({}, 8 * 0.40),
        ({"generate_audio": False}, 8 * 0.20),
        ({"resolution": "4k"}, 8 * 0.60),
        ({"sample_count": 3, "duration_seconds": 4}, 3 * 4 * 0.40),
        ({"model": "veo-3.1-fast-generate-001", "resolution": "1080p"}, 8 * 0.12),
        ({"model": "veo-3.1-lite-generate-001", "duration_seconds": 6}, 6 * 0.05),
    ],
)
def test_price_estimates(cat: Catalog, kw: dict, usd: float) -> None:
    r = req(**kw)
    est = cat.estimate(r, cat.validate(r, "vertex", today=TODAY))
    assert est.total_usd == pytest.approx(usd)
    assert f"${usd:.2f}" in est.describe()


def test_request_shape_errors_are_typed() -> None:
    with pytest.raises(E.InvalidRequest) as exc:
        GenerateRequest.build(prompt="x", seed=2**32)
    assert exc.value.field == "seed"
    with pytest.raises(E.InvalidRequest) as exc:
        GenerateRequest.build(prompt="   ")
    assert exc.value.field == "prompt"
    with pytest.raises(E.InvalidRequest) as exc:
        GenerateRequest.build(prompt="x", storage_uri="s3://bucket")
    assert exc.value.field == "storage_uri"


def test_image_sniffing_and_limits(tmp_path) -> None:
    assert png().mime_type == "image/png"
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    assert ImageInput.from_bytes(buf.getvalue()).mime_type == "image/jpeg"
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "WEBP")
    assert ImageInput.from_bytes(buf.getvalue()).mime_type == "image/webp"
    fake = tmp_path / "photo.png"
    fake.write_bytes(b"GIF89a not really")
    with pytest.raises(E.UnsupportedMedia, match="photo.png"):
        ImageInput.from_path(fake)
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (21 * 1024 * 1024))
    with pytest.raises(E.InputTooLarge):
        ImageInput.from_path(big)
    with pytest.raises(E.InvalidRequest, match="no such file"):
        ImageInput.from_path(tmp_path / "missing.png")


def test_fingerprint_covers_images_and_seed() -> None:
    a = req(seed=1, image=png("red"))
    assert a.fingerprint() == req(seed=1, image=png("red")).fingerprint()
    assert a.fingerprint() != req(seed=2, image=png("red")).fingerprint()
    assert a.fingerprint() != req(seed=1, image=png("blue")).fingerprint()
    assert "data" not in repr(a.image)


def test_output_storage_and_uploaded_extension_sources_are_provider_data(cat: Catalog) -> None:
    from veokit.models.request import VideoInput

    assert cat.validate(req(storage_uri="gs://b/out/"), "vertex", today=TODAY)
    with pytest.raises(E.InvalidRequest) as info:
        cat.validate(req(model="veo3_fast", storage_uri="gs://b/out/"), "kie", today=TODAY)
    assert info.value.field == "storage_uri" and "(only vertex, omni-vertex do)" in info.value.message
    upload = VideoInput(data=b"\x00\x00\x00\x18ftypmp42")
    with pytest.raises(E.InvalidRequest, match="video: gemini extends only videos it generated"):
        cat.validate(req(model="veo-3.1-generate-preview", video=upload), "gemini", allow_retired=True, today=TODAY)
    assert cat.validate(req(video=upload), "vertex", today=TODAY)


# -- Gemini Omni: token-priced, its own families -----------------------------------------------------------
def omni_req(**kw: object) -> GenerateRequest:
    return GenerateRequest.build(**{"prompt": "a fox", "model": "gemini-omni-1.2-flash", **kw})


def test_omni_is_priced_per_second_from_its_token_table(cat: Catalog) -> None:
    r = omni_req(duration_seconds=8)
    est = cat.estimate(r, cat.validate(r, "omni", today=TODAY))
    # 5,792 tokens a second of 720p at $17.50 per million, plus the prompt's input tokens at $1.50 per million.
    assert est.video_tokens == 8 * 5792 and est.rate_per_second == pytest.approx(5792 * 17.5 / 1e6)
    assert est.total_usd == pytest.approx(8 * 5792 * 17.5e-6, abs=1e-4)
    assert "$0.1014/s" in est.describe() and "46,336 video tokens at $17.50/M" in est.describe()
    four_k = omni_req(resolution="4k", duration_seconds=4)
    assert cat.estimate(four_k, cat.validate(four_k, "omni", today=TODAY)).rate_per_second == pytest.approx(
        3 * est.rate_per_second, rel=1e-3
    )


def test_omni_estimate_counts_what_the_inputs_cost(cat: Catalog) -> None:
    plain = omni_req(model="gemini-omni-1.1-flash")
    framed = omni_req(model="gemini-omni-1.1-flash", image=png(), last_frame=png("blue"))
    extended = omni_req(model="gemini-omni-1.1-flash", video=VideoInput(uri="omni-interaction://v1_abc"))
    p, f, e = (cat.estimate(x, cat.validate(x, "omni", today=TODAY)) for x in (plain, framed, extended))
    assert f.input_usd - p.input_usd == pytest.approx(2 * 2040 * 1.5e-6)
    assert e.input_usd - p.input_usd == pytest.approx(10 * 5792 * 1.5e-6)  # up to 10 s of context are read
    assert "input" in e.describe()


def test_usage_is_what_the_bill_is(cat: Catalog) -> None:
    offer = cat.validate(omni_req(), "omni", today=TODAY)
    assert offer.token_price is not None
    usage = Usage(input_tokens=1_000_000, video_output_tokens=1_000_000, other_output_tokens=1_000_000)
    assert offer.token_price.cost(usage) == pytest.approx(1.5 + 17.5 + 9.0)


@pytest.mark.parametrize(
    ("kw", "field", "allowed"),
    [
        ({"duration_seconds": 16}, "duration_seconds", list(range(3, 16))),
        ({"duration_seconds": 12, "image": png(), "last_frame": png("blue")}, "duration_seconds", list(range(3, 11))),
        ({"duration_seconds": 12, "video": VideoInput(uri="omni-interaction://x")}, "duration_seconds", None),
        ({"negative_prompt": "text"}, "negative_prompt", []),
        ({"resolution": "480p"}, "resolution", ["360p", "720p", "1080p", "4k"]),
        ({"image": png(), "reference_images": (png(),)}, "reference_images", []),
        ({"video": VideoInput(uri="kie-task://abc")}, "video", []),
        ({"model": "gemini-omni-1.1-flash", "duration_seconds": 12}, "duration_seconds", list(range(3, 11))),
    ],
)
def test_omni_limits_name_the_field(cat: Catalog, kw: dict, field: str, allowed: list | None) -> None:
    with pytest.raises(E.InvalidRequest) as exc:
        cat.validate(omni_req(**kw), "omni", today=TODAY)
    assert exc.value.field == field
    if allowed is not None:
        assert exc.value.allowed == allowed


def test_interaction_references_belong_to_their_host(cat: Catalog) -> None:
    gemini_ref = VideoInput(uri="omni-interaction://v1_abc")
    assert cat.validate(omni_req(video=gemini_ref), "omni", today=TODAY)
    with pytest.raises(E.InvalidRequest, match="can only be extended where they were made"):
        cat.validate(omni_req(video=gemini_ref), "omni-vertex", today=TODAY)
    with pytest.raises(E.InvalidRequest, match="can only be extended where they were made"):
        cat.validate(req(video=gemini_ref), "vertex", today=TODAY)


def test_omni_is_its_own_family_and_the_preview_is_retired_on_the_gemini_api(cat: Catalog) -> None:
    assert cat.family_of("gemini-omni-1.1-flash-preview") == "gemini-omni-1.1-flash"
    assert cat.find_family("omni-vertex", "gemini-omni-1.1-flash") is not None
    assert cat.find_family("vertex", "gemini-omni-1.2-flash") is None  # Veo's providers do not sell Omni
    with pytest.raises(E.ModelRetired) as exc:
        cat.validate(omni_req(model="gemini-omni-flash-preview"), "omni", today=TODAY)
    assert exc.value.replacement == "gemini-omni-1.1-flash"
    assert cat.default_model("omni") == "gemini-omni-1.2-flash"


def test_cloud_storage_output_is_a_provider_capability(cat: Catalog) -> None:
    assert cat.validate(omni_req(storage_uri="gs://b/out"), "omni-vertex", today=TODAY)
    with pytest.raises(E.InvalidRequest) as exc:
        cat.validate(omni_req(storage_uri="gs://b/out"), "omni", today=TODAY)
    assert exc.value.field == "storage_uri"
