"""A request as the user builds it (bytes) and as a job records it (references to blobs): one set of fields,
conversions both ways, and one fingerprint."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from veokit.models.request import GenerateRequest, ImageInput, StoredRequest, VideoInput

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff" + b"jpeg-body" * 50
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x01\x02" * 500
BASE = {"prompt": "a red fox", "model": "veo-3.1-fast-generate-001", "seed": 42, "negative_prompt": "blur"}

TEXT = GenerateRequest(**BASE)
FRAMED = GenerateRequest(
    **BASE,
    image=ImageInput(data=PNG, mime_type="image/png"),
    last_frame=ImageInput(data=JPEG, mime_type="image/jpeg", name="l.jpg"),
    video=VideoInput(data=MP4),
)
REFERENCED = GenerateRequest(
    **BASE, reference_images=(ImageInput(data=PNG, mime_type="image/png"),) * 2, video=VideoInput(uri="gs://b/v.mp4")
)


@pytest.mark.parametrize(
    ("request_", "fingerprint"),
    [
        # Computed by the release that stored inputs inline: reusing a video recorded then depends on these.
        (TEXT, "b6731ec829ccbe086ef716b2308eaa8a8b75974841660f9fb419c09a813f2943"),
        (FRAMED, "57cef2685e965ac2c0ba560708fc65e8f03b173b02475d5b1f3eae5cca96ccf1"),
        (REFERENCED, "ae4f2d866d8c2f2ec3bbb1109ef34638827f34443695d552baa12b290193a79c"),
    ],
)
def test_both_forms_keep_the_fingerprint_of_earlier_releases(request_: GenerateRequest, fingerprint: str) -> None:
    assert request_.fingerprint() == fingerprint
    assert request_.stored().fingerprint() == fingerprint
    assert StoredRequest.model_validate(request_.stored_json()).fingerprint() == fingerprint


def test_the_stored_form_holds_references_and_loads_back_the_same_request() -> None:
    doc = FRAMED.stored_json()
    assert doc == FRAMED.stored().model_dump(mode="json")
    assert doc["image"] == {
        "blob": {"sha256": FRAMED.image.sha256 if FRAMED.image else "", "size": len(PNG)},
        "mime_type": "image/png",
        "name": None,
    }
    assert doc["video"]["blob"]["size"] == len(MP4) and doc["video"]["uri"] is None
    assert len(str(doc)) < 1000  # no bytes
    stored = StoredRequest.model_validate(doc)
    assert stored.loaded(FRAMED.input_contents()) == FRAMED
    assert [b.size for b in stored.blobs()] == [len(PNG), len(JPEG), len(MP4)]


def test_identical_inputs_are_one_content() -> None:
    contents = REFERENCED.input_contents()
    assert list(contents.values()) == [PNG]  # two reference images, one blob; a video by URI has none
    stored = REFERENCED.stored()
    assert len(stored.blobs()) == 1
    assert stored.video is not None and stored.video.uri == "gs://b/v.mp4" and not stored.video.is_local
    assert stored.loaded(contents) == REFERENCED


def test_a_text_only_request_is_the_same_document_in_both_forms() -> None:
    assert TEXT.stored_json() == TEXT.model_dump(mode="json")
    assert TEXT.input_contents() == {}


def test_the_user_form_still_serialises_its_bytes() -> None:
    # Library users (and batch files) round-trip requests through JSON with their inputs inline.
    doc = FRAMED.model_dump(mode="json")
    assert doc["image"]["data"] == base64.b64encode(PNG).decode()
    assert GenerateRequest.model_validate(doc) == FRAMED


def test_neither_form_accepts_the_other() -> None:
    with pytest.raises(ValidationError):
        StoredRequest.model_validate(FRAMED.model_dump(mode="json"))  # inline bytes are not a reference
    with pytest.raises(ValidationError):
        GenerateRequest.model_validate(FRAMED.stored_json())  # a reference is not bytes
    with pytest.raises(KeyError):
        FRAMED.stored().loaded({})  # every referenced content is needed to send it
