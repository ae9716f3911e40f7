"""Planning a film: catalog and continuity checks, prices, render order, content addresses, the edit list."""

from __future__ import annotations

import datetime as dt
import io
import pathlib

import pytest
from PIL import Image

from veokit.errors import InvalidRequest, StoryboardError
from veokit.models.catalog import default_catalog
from veokit.models.film_plan import VEO_FPS, FilmPlan, PlanContext, plan_film
from veokit.models.request import ImageInput, VideoInput
from veokit.models.storyboard import load_storyboard, parse_storyboard

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "last-train.yaml"
TODAY = dt.date(2026, 10, 1)
CTX = PlanContext(default_catalog(), "vertex", today=TODAY)

BASE = """\
title: Test
defaults: {model: veo-3.1-fast-generate-001, seed: 10}
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
  - id: three
    prompt: The train leaves.
    continuity: extend
  - id: four
    prompt: Elsewhere, a clock ticks.
    duration: 4
"""


def _plan(text: str = BASE, ctx: PlanContext = CTX, **kw: object) -> FilmPlan:
    return plan_film(parse_storyboard(text, name="s.yaml"), ctx, **kw)  # type: ignore[arg-type]


def _fails(text: str, ctx: PlanContext = CTX, **kw: object) -> StoryboardError:
    with pytest.raises(StoryboardError) as info:
        _plan(text, ctx, **kw)
    return info.value


def _addresses(plan: FilmPlan) -> dict[str, str]:
    return {s.id: s.chosen.address for s in plan.shots}


# -- prices, order, requests -----------------------------------------------------------------------------------
def test_the_example_plans_cleanly() -> None:
    plan = plan_film(load_storyboard(EXAMPLE), CTX)
    assert plan.warnings == ()
    # Veo 3.1 Fast on Vertex: $0.10/s at 720p with audio; an extension is sent and billed as 8 s.
    assert [(r["shot"], r["seconds"], r["takes"], r["usd"]) for r in plan.rows()] == [
        ("platform", 8, 2, 1.6),
        ("closeup", 6, 1, 0.6),
        ("doors", 7, 1, 0.8),
        ("departure", 8, 1, 0.8),
    ]
    assert plan.total_usd == pytest.approx(3.8)
    assert plan.takes == 5
    # 8 + 6 + 7 + 8 s, less the frame closeup repeats and the 0.5 s crossfade into departure
    assert plan.film_seconds == pytest.approx(29 - 1 / VEO_FPS - 0.5)


def test_requests_carry_the_effective_settings() -> None:
    plan = _plan()
    one, two, three = plan.shot("one"), plan.shot("two"), plan.shot("three")
    assert one.request.model == "veo-3.1-fast-generate-001"
    assert (one.request.aspect_ratio, one.request.resolution, one.request.duration_seconds) == ("16:9", "720p", 8)
    assert [t.request.seed for t in one.takes] == [10, 11]  # distinct, reproducible takes
    assert one.request.sample_count == 1  # a take is a job of its own
    assert "Mara: a woman in a green coat." in one.prompt
    assert two.upstream is not None and (two.upstream.shot, two.upstream.kind) == ("one", "last_frame")
    assert three.upstream is not None and three.upstream.kind == "video"
    assert (three.seconds, three.video_seconds, three.request.duration_seconds) == (7, 15, 8)
    assert plan.order == ("one", "two", "three", "four")


def test_render_order_puts_a_shot_after_the_one_it_follows() -> None:
    text = BASE.replace("  - id: one\n", "  - id: one\n    continuity: last_frame\n    from: four\n")
    plan = _plan(text)
    assert plan.order == ("four", "one", "two", "three")
    assert plan.dependents("four") == ("one", "two", "three")
    assert plan.dependents("two") == ("three",)
    assert plan.dependents("three") == ()


def test_request_for_fills_the_input() -> None:
    plan = _plan()
    frame = ImageInput(data=b"\x89PNG\r\n\x1a\nframe", mime_type="image/png")
    video = VideoInput(uri="gs://bucket/two.mp4")
    assert plan.shot("two").request_for(1, first_frame=frame).image == frame
    assert plan.shot("three").request_for(1, video=video).video == video
    assert plan.shot("one").request_for(2).seed == 11
    with pytest.raises(InvalidRequest, match="pass first_frame"):
        plan.shot("two").request_for(1)
    with pytest.raises(InvalidRequest, match="pass its video"):
        plan.shot("three").request_for(1, first_frame=frame)
    with pytest.raises(InvalidRequest, match="is a cut"):
        plan.shot("one").request_for(1, video=video)
    with pytest.raises(InvalidRequest, match=r'shot "one" has no take 3 \(takes: 1 to 2\)'):
        plan.shot("one").request_for(3)


def test_picks_come_from_the_file_then_the_store_then_take_one() -> None:
    assert (_plan().shot("one").pick, _plan().shot("one").pick_source) == (1, "default")
    resolved = _plan(picks={"one": 2})
    assert (resolved.shot("one").pick, resolved.shot("one").pick_source) == (2, "resolved")
    assert _plan(picks={"one": 5}).shot("one").pick == 1  # out of range: ignored
    in_file = _plan(BASE.replace("    takes: 2\n", "    takes: 2\n    pick: 2\n"), picks={"one": 1})
    assert (in_file.shot("one").pick, in_file.shot("one").pick_source) == (2, "file")
    assert in_file.shot("two").upstream is not None and in_file.shot("two").upstream.take == 2


# -- content addresses -----------------------------------------------------------------------------------------
def test_editing_a_shot_changes_only_it_and_its_dependents() -> None:
    before = _addresses(_plan())
    after = _addresses(_plan(BASE.replace("Tom arrives.", "Tom runs in.")))
    assert {s for s in before if before[s] != after[s]} == {"two", "three"}
    after = _addresses(_plan(BASE.replace("Mara waits.", "Mara paces.")))
    assert {s for s in before if before[s] != after[s]} == {"one", "two", "three"}
    after = _addresses(_plan(BASE.replace("a clock ticks", "a bell rings")))
    assert {s for s in before if before[s] != after[s]} == {"four"}


def test_what_does_not_shape_a_video_changes_no_address() -> None:
    before = _addresses(_plan())
    assert _addresses(_plan(BASE.replace("title: Test", "title: Renamed"))) == before
    assert _addresses(_plan(BASE.replace("    duration: 4\n", "    duration: 4\n    crossfade: 0.5\n"))) == before
    assert (
        _addresses(
            _plan(
                BASE.replace(
                    "  tom: {description: a porter}\n", "  tom: {description: a porter}\n  x: {description: unused}\n"
                )
            )
        )
        == before
    )


def test_a_character_change_reaches_the_shots_they_are_in() -> None:
    before = _addresses(_plan())
    after = _addresses(_plan(BASE.replace("a porter", "an old porter")))
    assert {s for s in before if before[s] != after[s]} == {"two", "three"}  # tom speaks in "two"


def test_more_takes_keep_the_existing_ones_and_a_new_pick_moves_the_dependents() -> None:
    plan = _plan()
    more = _plan(BASE.replace("takes: 2", "takes: 3"))
    assert [t.address for t in more.shot("one").takes[:2]] == [t.address for t in plan.shot("one").takes]
    assert len({t.address for t in more.shot("one").takes}) == 3
    picked = _plan(picks={"one": 2})
    before, after = _addresses(plan), _addresses(picked)
    assert after["one"] != before["one"]  # the chosen take is another one...
    assert picked.shot("one").address == plan.shot("one").address  # ...of the same shot
    assert {s for s in ("two", "three", "four") if before[s] != after[s]} == {"two", "three"}


def test_reference_images_are_sent_and_addressed_by_content(tmp_path: pathlib.Path) -> None:
    def png(colour: tuple[int, int, int]) -> ImageInput:
        buf = io.BytesIO()
        Image.new("RGB", (16, 16), colour).save(buf, "PNG")
        return ImageInput.from_bytes(buf.getvalue())

    text = BASE.replace("a woman in a green coat}", "a woman in a green coat, images: [m.png]}")
    red = _plan(text, images={"m.png": png((255, 0, 0))})
    blue = _plan(text, images={"m.png": png((0, 0, 255))})
    assert len(red.shot("one").request.reference_images) == 1
    assert red.shot("two").request.reference_images == ()  # mara is not in "two"
    assert red.shot("three").request.reference_images == ()  # an extension continues a video
    assert red.shot("one").address != blue.shot("one").address
    off = _plan(text.replace("    takes: 2\n", "    takes: 2\n    references: false\n"), images={})
    assert off.shot("one").request.reference_images == ()


# -- problems --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # an extension of a 1080p shot
        (
            "    continuity: last_frame\n",
            "    continuity: last_frame\n    resolution: 1080p\n",
            's.yaml:19: shots[2] (id "three"): continuity: veo-3.1-fast-generate-001 extends only 720p videos;'
            ' "two" is 1080p',
        ),
        # a 4k extension
        (
            "    continuity: extend\n",
            "    continuity: extend\n    resolution: 4k\n",
            'shots[2] (id "three"): resolution: extension only outputs (allowed for veo-3.1-fast-generate-001: 720p)',
        ),
        (
            "    continuity: extend\n",
            "    continuity: extend\n    duration: 14\n",
            "duration: an extension adds 7 s (veo-3.1-fast-generate-001), not 14 s",
        ),
        (
            "    duration: 4\n",
            "    duration: 5\n",
            's.yaml:21: shots[3] (id "four"): duration: 5 s is not supported'
            " (allowed for veo-3.1-fast-generate-001: 4, 6, 8)",
        ),
        ("    duration: 4\n", "    duration: 4\n    provider: nowhere\n", 'provider: unknown provider "nowhere"'),
        (
            "    duration: 4\n",
            "    duration: 4\n    model: veo-3.0-generate-001\n",
            "model: veo-3.0-generate-001 on vertex was retired on 2026-06-30",
        ),
        (
            "    duration: 4\n",
            "    duration: 4\n    aspect: '9:16'\n",
            'aspect: 9:16 differs from "one" (16:9): a film has one aspect ratio',
        ),
        (
            "    continuity: last_frame\n",
            "    continuity: last_frame\n    aspect: '9:16'\n",
            'continuity: last_frame needs the aspect ratio of "one" (16:9), not 9:16',
        ),
        (
            "    continuity: extend\n",
            "    continuity: extend\n    provider: gemini\n",
            'continuity: a video is extended where it was made: "two" is on vertex, not gemini',
        ),
        (
            "    continuity: last_frame\n",
            "    continuity: last_frame\n    audio: false\n",
            "dialogue: a shot with dialogue needs sound, and audio is off",
        ),
        ("at: 1}", "at: 9}", "dialogue[0].at: 9 s is past the end of the 8 s shot"),
        (
            "    duration: 4\n",
            "    duration: 4\n    crossfade: 2\n  - {id: five, prompt: p, crossfade: 2}\n",
            'shots[4] (id "five"): crossfade: the crossfades around "four" (4 s) do not fit in its 4 s',
        ),
        (
            "defaults: {model: veo-3.1-fast-generate-001, seed: 10}",
            "defaults: {model: veo-3.1-fast-generate-001, seed: 10, duration: 5}",
            "(set in defaults.duration)",
        ),
    ],
)
def test_problems_name_the_shot_and_field(old: str, new: str, expected: str) -> None:
    assert old in BASE
    err = _fails(BASE.replace(old, new, 1))
    assert expected in err.message
    assert err.shot is not None and err.line is not None
    assert "\n" not in err.message


def test_a_chain_longer_than_the_model_extends_is_refused() -> None:
    # Veo 3.1: 8 s plus 20 extensions of 7 s is 148 s, the longest; a 21st is refused, naming the limit.
    steps = "".join(f"  - id: e{n}\n    prompt: More.\n    continuity: extend\n" for n in range(1, 21))
    head = "title: Long\nshots:\n  - id: start\n    prompt: A long take.\n"
    plan = _plan(head + steps)
    assert plan.shots[-1].video_seconds == 148
    err = _fails(head + steps + "  - id: e21\n    prompt: Too far.\n    continuity: extend\n")
    assert err.shot == "e21"
    assert (
        '"e20" is already 148 s long; veo-3.1-fast-generate-001 extends videos of at most 141 s, '
        "so an extension chain ends at 148 s"
    ) in err.message


def test_providers_with_shorter_limits_say_so() -> None:
    text = "title: T\ndefaults: {provider: fal, model: fal-ai/veo3.1/fast}\nshots:\n" + "".join(
        f"  - id: s{n}\n    prompt: p\n" + ("    continuity: extend\n" if n else "") for n in range(3)
    )
    err = _fails(text)
    assert err.shot == "s2" and "extends videos of at most 8 s, so an extension chain ends at 15 s" in err.message


def test_reseller_rules_apply_before_paying() -> None:
    # Kie cannot combine reference images with a first frame; the catalog's rule is named at the shot.
    text = (
        BASE.replace("a woman in a green coat}", "a woman in a green coat, images: [m.png]}")
        .replace("defaults: {model: veo-3.1-fast-generate-001, seed: 10}", "defaults: {provider: kie}")
        .replace("    dialogue:\n      - {speaker: tom, text: Hello., at: 1}\n", "    characters: [mara]\n")
        .replace("    duration: 4\n", "")
    )
    image = _tiny_png()
    err = _fails(text, images={"m.png": image})
    assert err.shot == "two"
    assert "first/last frames and reference images cannot be combined in one request" in err.message


def _tiny_png() -> ImageInput:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    return ImageInput.from_bytes(buf.getvalue())


def test_too_many_reference_images() -> None:
    text = (
        BASE.replace("a woman in a green coat}", "a woman in a green coat, images: [a.png, b.png]}")
        .replace("tom: {description: a porter}", "tom: {description: a porter, images: [c.png, d.png]}")
        .replace("characters: [mara]", "characters: [mara, tom]")
    )
    image = _tiny_png()
    err = _fails(text, images={p: image for p in ("a.png", "b.png", "c.png", "d.png")})
    assert 'shots[0] (id "one"): characters: mara, tom bring 4 reference images' in err.message
    assert "takes at most 3" in err.message


def test_every_independent_problem_is_reported() -> None:
    text = BASE.replace("    duration: 4\n", "    duration: 5\n").replace(
        "    continuity: last_frame\n", "    continuity: last_frame\n    resolution: 4k\n"
    )
    err = _fails(text)
    shots = [p.shot for p in err.problems]
    # "two" at 4k cannot be extended by "three"; "four" stands alone and is reported too.
    assert "four" in shots and "three" in shots
    assert err.message.endswith(f"(and {len(err.problems) - 1} more)")


def test_a_dialogue_pace_warning() -> None:
    words = " ".join(["word"] * 30)
    plan = _plan(BASE.replace("text: Hello.", f"text: {words}"))
    assert plan.warnings == (
        's.yaml:14: shots[1] (id "two"): dialogue: 30 words in 8 s is faster than natural speech (about 3 words/s);'
        " Veo may rush or drop lines",
    )


def test_auto_needs_a_chooser() -> None:
    text = BASE.replace("defaults: {", "defaults: {provider: auto, ")
    assert "provider: auto is not available here" in _fails(text).message
    chosen = _plan(text, PlanContext(default_catalog(), "vertex", today=TODAY, choose_provider=lambda _r: "vertex"))
    assert {s.provider for s in chosen.shots} == {"vertex"}


def test_the_command_line_provider_wins_and_the_registry_maps_it() -> None:
    ctx = PlanContext(
        default_catalog(),
        "gemini",
        provider="emulator",
        today=TODAY,
        catalog_key=lambda p: {"emulator": "vertex"}.get(p, p),
    )
    plan = _plan(BASE.replace("    duration: 4\n", "    duration: 4\n    provider: fal\n"), ctx)
    assert {s.provider for s in plan.shots} == {"emulator"}
    assert plan.shots[0].offer.provider == "vertex"


# -- the edit list ---------------------------------------------------------------------------------------------
def test_an_extension_chain_plays_from_its_final_video() -> None:
    cuts = _plan().edit()
    assert [(c.shot, c.source, c.start_s, c.end_s, c.join) for c in cuts] == [
        ("one", "one", 0.0, 8.0, "first"),
        ("two", "three", 1 / VEO_FPS, 8.0, "match"),  # one's last frame is not shown twice
        ("three", "three", 8.0, 15.0, "continuous"),
        ("four", "four", 0.0, 4.0, "cut"),
    ]


def test_a_chain_split_by_a_cutaway_plays_each_range_of_the_final_video() -> None:
    text = BASE.replace("    continuity: extend\n", "    continuity: extend\n    from: one\n")
    text = text.replace("  - id: two\n", "  - id: two\n").replace("    continuity: last_frame\n", "")
    plan = _plan(text)
    cuts = plan.edit(durations={"one": 8.02, "three": 15.01})
    assert [(c.shot, c.source, c.start_s, c.end_s, c.join) for c in cuts] == [
        ("one", "three", 0.0, 8.02, "first"),  # measured lengths, not planned ones
        ("two", "two", 0.0, 8.0, "cut"),
        ("three", "three", 8.02, 15.01, "cut"),
        ("four", "four", 0.0, 4.0, "cut"),
    ]
