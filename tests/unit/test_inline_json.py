"""The streaming inline-video reader must equal json.loads + b64decode, however the body is chunked."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
from pathlib import Path

import pytest

from veokit import errors as E
from veokit.providers.inline_json import (
    DECODE_BYTES,
    InlineJsonError,
    InlineJsonReader,
    cut_short,
    parse_json,
    resolve_placeholder,
)


def _body(videos: list[bytes], *, key: str = "bytesBase64Encoded", escape_slash: bool = False) -> bytes:
    doc = {
        "name": "projects/p/locations/l/publishers/google/models/m/operations/1",
        "done": True,
        "response": {
            "note": 'a prompt quoting "bytesBase64Encoded": "not a video"',
            "videos": [{key: base64.b64encode(v).decode(), "mimeType": "video/mp4"} for v in videos],
        },
    }
    text = json.dumps(doc, indent=1)
    if escape_slash:
        text = text.replace("/", "\\/")
    return text.encode()


def _feed(body: bytes, tmp_path: Path, sizes: list[int]) -> tuple[dict, list]:
    reader = InlineJsonReader(tmp_path)
    i = 0
    for n in sizes:
        reader.feed(body[i : i + n])
        i += n
    reader.feed(body[i:])
    return reader.finish()


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 4096, 10**9])
@pytest.mark.parametrize("escape_slash", [False, True])
def test_chunking_never_changes_the_result(tmp_path: Path, chunk: int, escape_slash: bool) -> None:
    videos = [os.urandom(5000), os.urandom(3001)]
    body = _body(videos, escape_slash=escape_slash)
    doc, blobs = _feed(body, tmp_path, [chunk] * (len(body) // chunk + 1))
    assert doc["response"]["note"] == 'a prompt quoting "bytesBase64Encoded": "not a video"'
    got = [resolve_placeholder(v["bytesBase64Encoded"], blobs) for v in doc["response"]["videos"]]
    assert [g.path.read_bytes() for g in got if g] == videos
    assert [g.sha256 for g in got if g] == [hashlib.sha256(v).hexdigest() for v in videos]


def test_random_chunk_boundaries(tmp_path: Path) -> None:
    rng = random.Random(7)
    video = os.urandom(20000)
    body = _body([video], key="encodedVideo")
    for _ in range(20):
        sizes = [rng.randint(1, 50) for _ in range(200)]
        doc, blobs = _feed(body, tmp_path, sizes)
        blob = resolve_placeholder(doc["response"]["videos"][0]["encodedVideo"], blobs)
        assert blob is not None and blob.path.read_bytes() == video


def test_a_video_larger_than_the_decode_batch_comes_out_whole(tmp_path: Path) -> None:
    # Several DECODE_BYTES batches, with chunk edges (and escaped slashes) falling anywhere in them.
    rng = random.Random(11)
    video = os.urandom(DECODE_BYTES * 2 + 12345)
    body = _body([video], escape_slash=True)
    sizes = [rng.randint(1, 70_000) for _ in range(len(body) // 35_000)]
    doc, blobs = _feed(body, tmp_path, sizes)
    blob = resolve_placeholder(doc["response"]["videos"][0]["bytesBase64Encoded"], blobs)
    assert blob is not None and blob.path.read_bytes() == video
    assert blob.size == len(video) and blob.sha256 == hashlib.sha256(video).hexdigest()


def test_truncated_body_is_an_error_and_leaves_no_files(tmp_path: Path) -> None:
    body = _body([os.urandom(10000)])
    reader = InlineJsonReader(tmp_path)
    reader.feed(body[: len(body) // 2])
    with pytest.raises(E.ResponseTruncated, match="inside an inline video value") as info:
        reader.finish()
    assert info.value.retryable  # a body cut short: asking again is safe (polls are never paid)
    reader.discard()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cut", [1, 10, 0.5, 0.99])
def test_a_skeleton_cut_after_the_video_value_is_truncated_not_malformed(tmp_path: Path, cut: float) -> None:
    body = _body([os.urandom(3000)])
    end = body.rindex(b'"mimeType"')  # past the inline value: only the JSON skeleton is cut
    at = int(cut) if cut >= 1 else end + int((len(body) - end) * cut)
    reader = InlineJsonReader(tmp_path)
    reader.feed(body[:at])
    with pytest.raises(E.ResponseTruncated):
        reader.finish()
    reader.discard()


@pytest.mark.parametrize(
    ("text", "truncated"),
    [
        (b"", True),
        (b"   ", True),
        (b'{"name": "op", "done": tr', True),
        (b'{"name": "op\\\\", "x": [1, {"y": "a}b', True),  # braces inside strings do not count
        (b'{"name": "op"', True),
        (b'{"name" "op"}', False),
        (b'{"name": "op"}}', False),
        (b'{"name": "op"} trailing', False),
        (b"<html>502 Bad Gateway</html>", False),
    ],
)
def test_parse_json_tells_a_cut_document_from_a_malformed_one(text: bytes, truncated: bool) -> None:
    assert cut_short(text) is truncated
    with pytest.raises(E.ResponseTruncated if truncated else E.UnexpectedResponse) as info:
        parse_json(text)
    assert isinstance(info.value, E.ResponseTruncated) is truncated


def test_invalid_base64_is_an_error(tmp_path: Path) -> None:
    reader = InlineJsonReader(tmp_path)
    with pytest.raises(InlineJsonError, match="base64") as info:
        reader.feed(b'{"bytesBase64Encoded": "ab!d====", "x": 1}')
        reader.finish()
    assert isinstance(info.value, E.UnexpectedResponse) and not info.value.retryable


def test_a_closed_value_with_an_incomplete_group_is_malformed_not_truncated(tmp_path: Path) -> None:
    reader = InlineJsonReader(tmp_path)
    with pytest.raises(InlineJsonError, match="incomplete group"):
        reader.feed(b'{"bytesBase64Encoded": "QUJDRA", "x": 1}')  # the closing quote came: the body was whole
    reader.discard()


def test_plain_json_passes_through(tmp_path: Path) -> None:
    doc, blobs = _feed(b'{"name": "op", "done": false}', tmp_path, [5])
    assert doc == {"name": "op", "done": False} and blobs == []
