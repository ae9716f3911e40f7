"""Provider options: declared by each provider, parsed to their type, refused by name before anything is sent."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from veokit import errors as E
from veokit.models.request import GenerateRequest, VideoInput
from veokit.providers import registry
from veokit.providers import spec as spec_module
from veokit.providers.options import ProviderOption, check_options, to_wire


def req(**kw: object) -> GenerateRequest:
    return GenerateRequest.model_validate({"prompt": "a fox", **kw})


def test_each_provider_declares_the_options_its_api_documents() -> None:
    declared = {s.name: [o.name for o in s.options] for s in registry.specs()}
    assert declared == {
        "vertex": ["compressionQuality", "resizeMode"],
        "gemini": [],
        "omni": [],
        "omni-vertex": [],
        "kie": ["enableTranslation", "enableFallback", "watermark"],
        "fal": ["auto_fix", "safety_tolerance"],
        "replicate": [],
        "emulator": ["compressionQuality", "resizeMode"],  # it speaks Vertex's protocol
    }


@pytest.mark.parametrize(
    ("provider", "given", "expected"),
    [
        ("kie", {"enableTranslation": "false", "watermark": "ACME"}, {"enableTranslation": False, "watermark": "ACME"}),
        ("kie", {"ENABLETRANSLATION": "Yes"}, {"enableTranslation": True}),  # a CSV header or shell may fold case
        ("fal", {"safety_tolerance": 2, "auto_fix": False}, {"safety_tolerance": "2", "auto_fix": False}),
        ("vertex", {"compressionquality": "LOSSLESS"}, {"compressionQuality": "lossless"}),
    ],
)
def test_values_are_parsed_to_the_options_type_and_names_made_canonical(
    provider: str, given: dict[str, object], expected: dict[str, object]
) -> None:
    checked = registry.get(provider).with_options_checked(req(options=given), warn=False)
    assert checked.options == expected


def test_an_option_the_provider_does_not_know_names_the_ones_it_does() -> None:
    with pytest.raises(E.InvalidRequest) as info:
        registry.get("vertex").check_options(req(options={"watermark": "ACME"}))
    exc = info.value
    assert exc.field == "options.watermark" and exc.allowed == ["compressionQuality", "resizeMode"]
    assert exc.message == (
        "options.watermark: vertex has no option 'watermark' (its options: compressionQuality, resizeMode)"
    )
    with pytest.raises(E.InvalidRequest, match="replicate has no option 'auto_fix' \\(it takes no options\\)"):
        registry.get("replicate").check_options(req(options={"auto_fix": True}))


@pytest.mark.parametrize(
    ("provider", "options", "field", "allowed", "fragment"),
    [
        ("fal", {"safety_tolerance": "9"}, "options.safety_tolerance", ["1", "2", "3", "4", "5", "6"], "'9' is not"),
        ("fal", {"auto_fix": 1}, "options.auto_fix", [True, False], "1 is not true or false"),
        ("kie", {"watermark": ""}, "options.watermark", [], "must be non-empty text"),
        ("kie", {"watermark": "x" * 201}, "options.watermark", [], "at most 200"),
        ("vertex", {"compressionQuality": True}, "options.compressionQuality", ["optimized", "lossless"], "True"),
    ],
)
def test_a_bad_value_names_what_the_option_takes(
    provider: str, options: dict[str, object], field: str, allowed: list[object], fragment: str
) -> None:
    with pytest.raises(E.InvalidRequest) as info:
        registry.get(provider).check_options(req(options=options))
    assert info.value.field == field and info.value.allowed == allowed and fragment in info.value.message


def test_options_tied_to_a_kind_of_request() -> None:
    with pytest.raises(E.InvalidRequest, match="resizeMode: only applies to image to video requests"):
        registry.get("vertex").check_options(req(options={"resizeMode": "pad"}))
    extension = req(video=VideoInput(uri="kie-task://abc"), options={"enableTranslation": False})
    with pytest.raises(E.InvalidRequest, match="enableTranslation: kie does not take it with extension"):
        registry.get("kie").check_options(extension)
    assert registry.get("kie").check_options(req(video=VideoInput(uri="kie-task://abc"), options={"watermark": "W"}))


def test_a_deprecated_option_is_sent_with_one_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spec_module, "_warned", set())  # once per process: start this test's process afresh
    spec = registry.get("kie")
    request = req(options={"enableFallback": "true", "watermark": "once"})
    with caplog.at_level(logging.WARNING, logger="veokit.providers"):
        for _ in range(3):
            checked = spec.with_options_checked(request, warn=True)
    assert checked.options == {"enableFallback": True, "watermark": "once"}
    warnings = [r.getMessage() for r in caplog.records if "enableFallback" in r.getMessage()]
    assert len(warnings) == 1 and "deprecated" in warnings[0] and "sent anyway" in warnings[0]
    assert to_wire("kie", spec.options, checked.options) == {"enableFallback": True, "watermark": "once"}


def test_to_wire_uses_wire_names_and_refuses_what_was_not_declared() -> None:
    declared = (ProviderOption("tolerance", "int", "how much", wire="safetyTolerance", minimum=1, maximum=6),)
    assert to_wire("acme", declared, {"tolerance": "3"}) == {"safetyTolerance": 3}
    with pytest.raises(E.InvalidRequest, match="3.5' is not a whole number"):
        to_wire("acme", declared, {"tolerance": "3.5"})
    with pytest.raises(E.InvalidRequest, match="7 is out of range"):
        check_options("acme", declared, {"tolerance": 7})
    with pytest.raises(E.InvalidRequest, match="acme has no option 'other'"):
        to_wire("acme", declared, {"other": 1})


def test_options_are_part_of_the_fingerprint_and_absent_ones_change_nothing() -> None:
    plain = req(seed=7)
    legacy = plain.model_dump(exclude={"image", "last_frame", "reference_images", "video", "options"})
    legacy.update(image=None, last_frame=None, reference_images=[], video=None)
    digest = hashlib.sha256(json.dumps(legacy, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert plain.fingerprint() == digest  # jobs recorded before options existed still match
    marked = req(seed=7, options={"watermark": "ACME"})
    assert marked.fingerprint() != plain.fingerprint()
    assert req(seed=7, options={"watermark": "ACME"}).fingerprint() == marked.fingerprint()
    assert "watermark=ACME" in marked.summary()


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"watermark": None}, "watermark: None is not text, a number or true/false"),
        ("watermark=ACME", "must be an object of NAME: VALUE"),
        ({" ": 1}, "an option needs a name"),
    ],
)
def test_a_request_takes_options_as_names_and_scalars(options: object, fragment: str) -> None:
    with pytest.raises(E.InvalidRequest) as info:
        GenerateRequest.build(prompt="a fox", options=options)
    assert info.value.field == "options" and fragment in info.value.message
