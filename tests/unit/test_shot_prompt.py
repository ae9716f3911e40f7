"""How a shot becomes the prompt Veo reads."""

from __future__ import annotations

from veokit.models.shot_prompt import render_prompt
from veokit.models.storyboard import Storyboard, parse_storyboard

BOARD = """\
title: T
defaults: {style: "35mm film, rain"}
characters:
  mara: {name: Mara, description: a woman in her sixties in a green raincoat., voice: low and dry}
  tom: {name: Tom, description: a lanky porter}
shots:
  - id: talk
    camera: "medium two-shot,  slow push-in"
    prompt: Mara grips Tom's sleeve
    characters: [tom]
    dialogue:
      - {speaker: mara, text: "We're out of time.", at: 1, delivery: quietly}
      - {speaker: tom, text: 'Then we say "run".', at: "0:04.5"}
  - id: quiet
    prompt: An empty platform at night.
    style: black and white
  - id: untimed
    prompt: They argue.
    dialogue:
      - {speaker: tom, text: No.}
      - {speaker: mara, text: Yes!}
"""


def _board() -> Storyboard:
    return parse_storyboard(BOARD)


def test_camera_characters_action_style_then_timed_speech() -> None:
    board = _board()
    prompt = render_prompt(board, board.shot("talk"), duration_s=8)
    assert prompt == (
        "Medium two-shot, slow push-in.\n"
        "Tom: a lanky porter.\n"
        "Mara: a woman in her sixties in a green raincoat (voice: low and dry).\n"
        "Mara grips Tom's sleeve.\n"
        "Style: 35mm film, rain.\n"
        '[00:01-00:04.5] Mara says quietly: "We\'re out of time."\n'
        "[00:04.5-00:08] Tom says: \"Then we say 'run'.\""
    )


def test_a_shot_without_people_is_its_prompt_and_style() -> None:
    board = _board()
    assert render_prompt(board, board.shot("quiet"), duration_s=6) == (
        "An empty platform at night.\nStyle: black and white."
    )


def test_untimed_lines_have_no_timestamps() -> None:
    board = _board()
    prompt = render_prompt(board, board.shot("untimed"), duration_s=8)
    assert prompt.splitlines()[-2:] == ['Tom says: "No."', 'Mara says: "Yes!"']
    assert "[" not in prompt


def test_the_last_line_ends_with_the_shot() -> None:
    board = _board()
    assert "[00:04.5-00:07]" in render_prompt(board, board.shot("talk"), duration_s=7)
