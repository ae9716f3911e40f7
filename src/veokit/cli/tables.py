"""Tables that fit: the terminal's width when there is one, a pipe's tab-separated lines when there is not.

Rich folds a cell that does not fit, which splits a job id over four lines where nobody can copy it. Here a
column either keeps its whole value (ids, states: ``shrink=0``) or is cut to fit with an ellipsis, and when
even that does not fit, the least important columns (highest ``drop`` number) are left out. Piped output is
one tab-separated line per row, every column, nothing cut, no header (as ``gh`` does), for ``cut``/``awk``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

GAP = 2  # spaces between columns


@dataclass(frozen=True)
class Column:
    name: str
    drop: int = 0  # 0: always shown; otherwise the higher, the sooner it is left out when space runs short
    shrink: int = 0  # 0: never cut; otherwise the narrowest it may be cut to (with an ellipsis)
    right: bool = False  # numbers align right
    cut_left: bool = False  # paths keep their end (the file name): "…/videos/job_x.mp4"


def _cut(text: str, width: int, left: bool) -> str:
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    return "…" + text[-(width - 1) :] if left else text[: width - 1] + "…"


def layout(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[tuple[int, int]]:
    """Which columns are shown (their indexes) and how wide each is, for ``width`` characters."""
    natural = [max([len(c.name), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    shown = list(range(len(columns)))

    def least(ix: list[int]) -> int:
        return sum(min(natural[i], columns[i].shrink) if columns[i].shrink else natural[i] for i in ix) + GAP * (
            len(ix) - 1
        )

    while least(shown) > width and any(columns[i].drop for i in shown):
        shown.remove(max((i for i in shown if columns[i].drop), key=lambda i: columns[i].drop))
    widths = {i: natural[i] for i in shown}
    excess = sum(widths.values()) + GAP * (len(shown) - 1) - width
    # Cut the widest shrinkable column first, a character at a time, down to its floor.
    while excess > 0:
        cuttable = [i for i in shown if columns[i].shrink and widths[i] > min(natural[i], columns[i].shrink)]
        if not cuttable:
            break
        i = max(cuttable, key=lambda k: widths[k])
        widths[i] -= 1
        excess -= 1
    return [(i, widths[i]) for i in shown]


def render(
    console: Console, columns: Sequence[Column], rows: Sequence[Sequence[str]], title: str | None = None
) -> None:
    """Print ``rows`` under ``columns`` on ``console``: fitted to a terminal, tab-separated into a pipe."""
    if not console.is_terminal:
        # Written as is: Console.print would expand the tabs to spaces.
        console.file.write("".join("\t".join(cell.replace("\t", " ") for cell in row) + "\n" for row in rows))
        console.file.flush()
        return
    if title:
        console.print(Text(title, style="bold"), soft_wrap=True)
    if not rows:
        console.print(Text("(none)", style="dim"))
        return
    plan = layout(columns, rows, console.width)

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i, w in plan:
            col = columns[i]
            cell = _cut(cells[i], w, col.cut_left)
            parts.append(cell.rjust(w) if col.right else cell.ljust(w))
        return (" " * GAP).join(parts).rstrip()

    console.print(Text(line([c.name for c in columns]), style="bold"), soft_wrap=True, no_wrap=True)
    for row in rows:
        console.print(Text(line(row)), soft_wrap=True, no_wrap=True)
