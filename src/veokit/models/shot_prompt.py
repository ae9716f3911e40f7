"""How a storyboard shot becomes the text prompt Veo reads.

Each generation sees only its own prompt ("every prompt is an island"), so a shot's prompt repeats what the
film established: who the characters are and what they look like, the camera, the shared style. Order follows
Google's guides, which put cinematography first, then subject, action and context, then style and audio:

    Medium two-shot, slow push-in.
    Mara: a woman in her sixties with cropped silver hair (voice: low and dry).
    Tom: a lanky porter in his twenties.
    Rain falls on the night platform; Mara grips Tom's sleeve.
    Style: 35mm film, sodium-vapour light.
    [00:01-00:04] Mara says quietly: "We're out of time."
    [00:04-00:08] Tom says: "Then we run."

Speech is written the way Veo 3 reads it: the line in double quotes after the speaker and a speech verb
(Gemini API Veo guide, "Prompting for audio": "Use quotes for specific speech", e.g. ``"This must be the key,"
he murmured.`` -- https://ai.google.dev/gemini-api/docs/video; Vertex AI Veo prompt guide,
https://cloud.google.com/vertex-ai/generative-ai/docs/video/video-gen-prompt-guide). When lines have times they
are prefixed with the span they fill, ``[00:01-00:04]``, the timestamp form of Google Cloud's "Ultimate prompting
guide for Veo 3.1" (https://cloud.google.com/blog/products/ai-machine-learning/ultimate-prompting-guide-for-veo-3-1).
"""

from __future__ import annotations

from veokit.models.storyboard import DialogueLine, Shot, Storyboard

WORDS_PER_SECOND = 3.0  # brisk natural speech; more than this in a shot and Veo drops or rushes lines


def render_prompt(board: Storyboard, shot: Shot, *, duration_s: float) -> str:
    """The prompt for ``shot`` (``duration_s`` long: timed lines end at the next line or the shot's end)."""
    parts: list[str] = []
    if shot.camera:
        parts.append(_sentence(shot.camera))
    for key in board.present(shot):
        parts.append(_character(board, key))
    parts.append(_sentence(shot.prompt))
    style = shot.style if shot.style is not None else board.defaults.style
    if style:
        parts.append(_sentence(f"Style: {style}"))
    parts.extend(_dialogue(board, shot.dialogue, duration_s))
    return "\n".join(parts)


def speech_words(shot: Shot) -> int:
    return sum(len(line.text.split()) for line in shot.dialogue)


def _character(board: Storyboard, key: str) -> str:
    c = board.characters[key]
    voice = f" (voice: {c.voice.strip().rstrip('.')})" if c.voice else ""
    return f"{board.display_name(key)}: {c.description.strip().rstrip('.')}{voice}."


def _dialogue(board: Storyboard, lines: tuple[DialogueLine, ...], duration_s: float) -> list[str]:
    out = []
    for i, line in enumerate(lines):
        # A straight double quote inside the line would end the quotation early; Veo reads single quotes fine.
        text = line.text.strip().replace('"', "'")
        how = f" {line.delivery.strip()}" if line.delivery else ""
        said = f'{board.display_name(line.speaker)} says{how}: "{text}"'
        if line.at is not None:
            nxt = lines[i + 1].at if i + 1 < len(lines) else None
            end = nxt if nxt is not None else duration_s
            said = f"[{timestamp(line.at)}-{timestamp(end)}] {said}"
        out.append(said)
    return out


def timestamp(seconds: float) -> str:
    """00:02, or 00:02.5 for a time between whole seconds."""
    minutes, secs = divmod(seconds, 60)
    whole = f"{int(minutes):02d}:{int(secs):02d}"
    frac = round(secs - int(secs), 3)
    return whole if frac == 0 else f"{whole}{f'{frac:.3f}'.rstrip('0')[1:]}"


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", '"', "…")) else f"{text}."
