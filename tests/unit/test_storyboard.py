"""The storyboard file format: parsing, located errors, the published schema, reference images."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import pathlib

import pytest
from PIL import Image

from veokit.errors import InvalidRequest, StoryboardError
from veokit.models.storyboard import load_reference_images, load_storyboard, parse_storyboard, storyboard_json_schema

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "last-train.yaml"

BASE = """\
title: Test
characters:
  mara: {name: Mara, description: a woman in a green coat}
  tom: {description: a porter}
shots:
  - id: one
    prompt: Mara waits.
    characters: [mara]
    takes: 2
  - id: two
    prompt: Tom arrives.
    continuity: last_frame
    dialogue:
      - {speaker: tom, text: Hello., at: 1}
      - {speaker: mara, text: Hi., at: "0:03.5"}
  - id: three
    prompt: The train leaves.
    continuity: extend
"""


def _fails(text: str, fmt: str | None = None) -> StoryboardError:
    with pytest.raises(StoryboardError) as info:
        parse_storyboard(text, name="s.yaml", fmt=fmt)  # type: ignore[arg-type]
    return info.value


def test_the_example_parses_with_its_positions() -> None:
    board = load_storyboard(EXAMPLE)
    assert [s.id for s in board.shots] == ["platform", "closeup", "doors", "departure"]
    assert board.shot("closeup").continuity == "last_frame"
    assert board.upstream(board.shot("doors")) == "closeup"
    assert board.upstream(board.shot("departure")) is None
    lines = EXAMPLE.read_text().splitlines()
    line = board.source.line(("shots", 2, "continuity"))
    assert line is not None and lines[line - 1].strip().startswith("continuity: extend")


def test_json_and_yaml_read_the_same() -> None:
    board = parse_storyboard(BASE)
    as_json = json.dumps(board.model_dump(mode="json", by_alias=True, exclude_defaults=True), indent=1)
    again = parse_storyboard(as_json, name="s.json", fmt="json")
    assert again.model_dump() == board.model_dump()
    assert again.source.line(("shots", 1, "prompt")) is not None  # JSON keeps line numbers too


def test_times_and_speakers() -> None:
    board = parse_storyboard(BASE)
    two = board.shot("two")
    assert [line.at for line in two.dialogue] == [1.0, 3.5]
    assert board.present(two) == ("tom", "mara")  # speakers are in the shot without being listed
    assert board.display_name("mara") == "Mara" and board.display_name("tom") == "tom"


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        (
            "    takes: 2\n",
            "    takse: 2\n",
            9,
            's.yaml:9: shots[0] (id "one"): takse: unknown field; did you mean "takes"?',
        ),
        ("    prompt: Tom arrives.\n", "", 10, 's.yaml:10: shots[1] (id "two"): prompt: required'),
        ("    takes: 2\n", "    takes: two\n", 9, 'takes: should be a whole number, not "two"'),
        ("    takes: 2\n", "    takes: 9\n", 9, "takes: Input should be less than or equal to 8"),
        ("[mara]", "[marra]", 8, 'shots[0] (id "one"): characters[0]: unknown character "marra"; did you mean "mara"?'),
        ("speaker: tom", "speaker: bob", 14, 'dialogue[0].speaker: unknown character "bob" (characters: mara, tom)'),
        ("  - id: two", "  - id: one", 10, 'shots[1] (id "one"): id: "one" is also the id of shots[0]'),
        (
            "    takes: 2\n",
            "    takes: 2\n    pick: 3\n",
            10,
            "pick: take 3 does not exist (this shot has 2 take(s): 1, 2)",
        ),
        (
            "continuity: last_frame",
            "continuity: fade",
            12,
            "continuity: Input should be 'cut', 'last_frame' or 'extend'",
        ),
        (
            "continuity: extend",
            "continuity: extend\n    from: tow",
            19,
            'from: no shot has the id "tow"; did you mean "two"?',
        ),
        ("    continuity: extend\n", "    crossfade: 3\n", 18, "crossfade: Input should be less than or equal to 2"),
        ("    continuity: extend\n", "    continuity: extend\n    crossfade: 1\n", 19, "a crossfade needs a cut"),
        ("at: 1}", "}", 14, "dialogue[0].at: give every line of a shot a time, or none"),
        ('at: "0:03.5"', "at: 0.5", 15, "dialogue[1].at: 0.5 s is not after the line before (1 s)"),
        ('at: "0:03.5"', 'at: "soon"', 15, 'dialogue[1].at: "soon" is not a time'),
        (
            "    characters: [mara]\n",
            "    characters: [mara]\n    continuity: extend\n",
            9,
            "extend needs a shot to continue",
        ),
    ],
)
def test_problems_name_line_shot_and_field(old: str, new: str, line: int, expected: str) -> None:
    assert old in BASE
    err = _fails(BASE.replace(old, new, 1))
    assert expected in err.message
    assert err.line == line
    assert err.message.startswith(f"s.yaml:{line}: ")
    assert isinstance(err, InvalidRequest) and err.exit_code == 2
    assert "\n" not in err.message


def test_a_cycle_is_named() -> None:
    text = BASE.replace("    continuity: last_frame\n", "    continuity: last_frame\n    from: three\n").replace(
        "continuity: extend", "continuity: last_frame\n    from: two"
    )
    err = _fails(text)
    assert 'the shots continue each other in a cycle: "two" -> "three" -> "two"' in err.message
    assert err.shot == "two" and err.field == "from"


def test_an_extension_chain_cannot_branch() -> None:
    text = BASE + "  - id: four\n    prompt: Again.\n    continuity: extend\n    from: two\n"
    err = _fails(text)
    assert err.line == 21 and err.shot == "four"
    assert 'shot "two" is already extended by "three": an extension chain cannot branch' in err.message


def test_every_problem_is_collected() -> None:
    text = BASE.replace("[mara]", "[marra]").replace("speaker: tom", "speaker: bob")
    err = _fails(text)
    assert len(err.problems) == 2
    assert err.message.endswith("(and 1 more)")
    assert [p.shot for p in err.problems] == ["one", "two"]


def test_a_list_with_bad_items_is_not_also_reported_too_short() -> None:
    """Pydantic adds "at least 1 item" for a list whose every item failed: an echo, not a problem."""
    text = "title: t\nshots:\n  - id: a\n    prompt: x\n    takes: 0\n"
    err = _fails(text)
    assert [p.field for p in err.problems] == ["takes"] and "item" not in err.message


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("title: [unclosed\nshots: []\n", "yaml", "s.yaml:2: not valid YAML: while parsing a flow sequence"),
        (
            "title: a\ntitle: b\nshots: []\n",
            "yaml",
            's.yaml:2: not valid YAML: while constructing a mapping found duplicate key "title"',
        ),
        (
            '{"title": "a",\n "shots": [],}\n',
            "json",
            "s.yaml:2: not valid JSON: Expecting property name enclosed in double quotes (column 14)",
        ),
        ("- just\n- a list\n", "yaml", "s.yaml:1: a storyboard is a mapping with a title and shots"),
        ("title: x\n", "yaml", "s.yaml:1: shots: required"),
        ("title: x\nshots: []\n", "yaml", "s.yaml:2: shots: at least 1 item(s), not 0"),
        ("title: x\n1: y\nshots: []\n", "yaml", "keys are text"),
    ],
)
def test_unreadable_files(text: str, fmt: str, expected: str) -> None:
    assert expected in _fails(text, fmt).message


def test_missing_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(StoryboardError, match="no such storyboard file"):
        load_storyboard(tmp_path / "nope.yaml")


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 18), colour).save(buf, "PNG")
    return buf.getvalue()


def test_reference_images_are_read_relative_to_the_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "mara.png").write_bytes(_png((200, 10, 10)))
    story = tmp_path / "story.yaml"
    story.write_text(BASE.replace("a woman in a green coat}", "a woman in a green coat, images: [refs/mara.png]}"))
    board = load_storyboard(story)
    images = load_reference_images(board)
    assert list(images) == ["refs/mara.png"]
    assert images["refs/mara.png"].mime_type == "image/png"
    (tmp_path / "refs" / "mara.png").unlink()
    with pytest.raises(StoryboardError, match=r"story.yaml:3: characters.mara.images\[0\]: no such file"):
        load_reference_images(board)


def test_images_inline_as_data_urls_and_no_local_file_for_a_sender_without_files(tmp_path: pathlib.Path) -> None:
    png = _png((0, 90, 200))
    inline = "data:image/png;base64," + base64.b64encode(png).decode()
    with_image = BASE.replace("a woman in a green coat}", "a woman in a green coat, images: ['IMAGE']}")
    board = parse_storyboard(with_image.replace("IMAGE", inline), local_files=False)
    assert load_reference_images(board)[inline].data == png

    (tmp_path / "secret.png").write_bytes(png)  # a real image: refused for where it is, not what
    for path in (str(tmp_path / "secret.png"), "secret.png", "../secret.png", "~/secret.png"):
        sent = parse_storyboard(with_image.replace("IMAGE", path), local_files=False)
        with pytest.raises(StoryboardError, match=r"line 3: characters.mara.images\[0\]: give the image inline"):
            load_reference_images(sent, base_dir=tmp_path)
    with pytest.raises(StoryboardError, match="base64 is not valid"):
        load_reference_images(
            parse_storyboard(with_image.replace("IMAGE", "data:image/png;base64,%%%"), local_files=False)
        )


def test_the_published_schema_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("storyboard_schema", ROOT / "scripts" / "storyboard_schema.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (ROOT / "docs" / "storyboard.schema.json").read_text("utf-8")
    assert committed == module.render(), "docs/storyboard.schema.json is stale: run scripts/storyboard_schema.py"


def test_the_schema_accepts_the_example_and_refuses_a_typo() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from ruamel.yaml import YAML

    schema = storyboard_json_schema()
    doc = json.loads(json.dumps(YAML(typ="safe").load(EXAMPLE.read_text())))
    jsonschema.validate(doc, schema)
    doc["shots"][0]["takse"] = 2
    with pytest.raises(jsonschema.ValidationError, match="takse"):
        jsonschema.validate(doc, schema)
