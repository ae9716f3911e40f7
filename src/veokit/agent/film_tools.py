"""The agent's film tools: write a storyboard, price it, render it once the user has agreed to the price.

Money is confirmed the way a model can be held to: ``plan_film`` is free and returns the price of what is still
to render; ``render_film`` refuses unless its ``confirm_usd`` covers that price (so the model has to have read
it, and is told to say it to the user first), and the session's ``max_cost_usd`` caps the whole film. A film
takes minutes, so ``render_film`` returns at once and ``film_status`` follows it; the takes are jobs in the
store, so a film an earlier session started is continued, never paid for twice.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from veokit import errors as E
from veokit.agent.results import ToolResult, fail, failure_from, ok
from veokit.service import FilmResult, VeoClient

if TYPE_CHECKING:
    from veokit.service import JobRuntime

EPSILON_USD = 1e-9

StoryboardArg = Annotated[
    str,
    "The storyboard file's path (YAML or JSON), or its full YAML/JSON text to save as a new file. Format: title; "
    "defaults (provider, model, aspect, resolution, duration, audio, seed, style, negative_prompt); characters "
    "(key: {name, description, voice, images: [up to 3 paths]}); shots: [{id, prompt, duration (4, 6 or 8), "
    "camera, characters: [keys], dialogue: [{speaker: key, text, at: seconds}], takes (1-8), "
    "continuity: cut | last_frame (starts on the previous shot's last frame) | extend (adds 7 s to the "
    "previous shot's video; 720p only), from: shot id, crossfade: seconds}]. Schema: docs/storyboard.schema.json.",
]


class FilmTools:
    """Mixed into :class:`~veokit.agent.tools_core.VideoToolkit` (which provides the client and runtime)."""

    client: VeoClient
    runtime: JobRuntime
    max_cost_usd: float | None
    _films: dict[str, asyncio.Task[FilmResult]]

    def _storyboard_path(self, storyboard: str, save_as: str | None) -> Path:
        text = storyboard.strip()
        if "\n" not in text and (text.endswith((".yaml", ".yml", ".json")) or Path(text).expanduser().is_file()):
            return Path(text).expanduser().resolve()
        title = re.search(r'"?title"?\s*:\s*"?([^"\n,}]+)', text)
        slug = re.sub(r"[^a-z0-9]+", "-", (title.group(1) if title else "film").lower()).strip("-") or "film"
        target = Path(save_as).expanduser() if save_as else self.client.settings.data_dir / "films" / f"{slug}.yaml"
        if target.suffix.lower() not in (".yaml", ".yml", ".json"):
            raise E.InvalidRequest(f"save_as: {target} must end in .yaml or .json", field="save_as")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n", "utf-8")
        return target.resolve()

    def _out_dir(self, path: Path) -> Path:
        return self.client.settings.out_dir / path.stem

    async def plan_film(
        self,
        storyboard: StoryboardArg,
        save_as: Annotated[str | None, "Where to save storyboard text (default: veokit's data dir)."] = None,
        provider: Annotated[str | None, "Render every shot on this provider (default: the storyboard's)."] = None,
    ) -> ToolResult:
        """Check a storyboard (a film of several shots) and price it, without sending anything (free). Saves
        storyboard text to a file and returns its path, every shot's price, the film's length, and to_pay_usd:
        what rendering would cost now (takes already rendered are not paid again). A problem returns one line
        naming the line, shot and field: fix it and call plan_film again. Then tell the user the price and,
        once they agree, call render_film with confirm_usd=to_pay_usd.
        """
        try:
            path = await asyncio.to_thread(self._storyboard_path, storyboard, save_as)
            st = await self.runtime.call(lambda c: c.film_status(path, provider=provider))
        except Exception as exc:
            return failure_from(exc)
        view = {**st.view(), "storyboard": str(path), "spent_usd": 0.0}
        return ok(
            f"{st.plan.title}: {len(st.plan.shots)} shots, {st.plan.takes} takes, {st.plan.film_seconds:.1f} s; "
            f"rendering costs ${st.to_pay_usd:.2f} now (film total ${st.plan.total_usd:.2f}); nothing was sent. "
            f"Tell the user the price; then render_film(storyboard='{path}', confirm_usd={st.to_pay_usd})",
            view,
        )

    async def render_film(
        self,
        storyboard: Annotated[str, "The storyboard file's path (plan_film returns it)."],
        confirm_usd: Annotated[float, "The price the user agreed to: plan_film's to_pay_usd."],
        provider: Annotated[str | None, "The same provider given to plan_film, if any."] = None,
    ) -> ToolResult:
        """Render a planned film: the missing takes (independent shots in parallel), then one stitched MP4 with
        a timeline and a contact sheet. Refused unless confirm_usd covers what rendering costs now, so call
        plan_film first and say the price. Returns at once; call film_status to follow it. Calling it again
        continues the same film and never pays twice for a take.
        """
        try:
            path = await asyncio.to_thread(_resolved, storyboard)
            st = await self.runtime.call(lambda c: c.film_status(path, provider=provider))
            price = st.to_pay_usd
            if price > confirm_usd + EPSILON_USD:
                return fail(
                    f"confirm_usd: rendering costs ${price:.2f} now, more than the ${confirm_usd:.2f} confirmed; tell "
                    f"the user the price and call render_film again with confirm_usd={price}"
                )
            ceiling = confirm_usd if self.max_cost_usd is None else min(confirm_usd, self.max_cost_usd)
            out = self._out_dir(path)

            async def start(client: VeoClient) -> bool:
                running = self._films.get(str(path))
                if running is not None and not running.done():
                    return False
                task = asyncio.get_running_loop().create_task(
                    client.film_render(path, out_dir=out, provider=provider, max_cost_usd=ceiling)
                )
                self.runtime.keep(task)
                self._films[str(path)] = task
                return True

            started = await self.runtime.call(start)
        except Exception as exc:
            return failure_from(exc)
        verb = "started rendering" if started else "already rendering"
        return ok(
            f"{verb} {st.plan.title} (${price:.2f}); call film_status(storyboard='{path}') to follow it",
            {**st.view(), "storyboard": str(path), "out_dir": str(out)},
        )

    async def film_status(
        self,
        storyboard: Annotated[str, "The storyboard file's path."],
        provider: Annotated[str | None, "The same provider given to render_film, if any."] = None,
        wait_s: Annotated[float, "Wait up to this many seconds (at most 600) for the film to finish."] = 60.0,
    ) -> ToolResult:
        """Where a film is: each shot's state (done, rendering, waiting for the shot it continues, failed) and
        takes, and when finished the stitched film's path, length, timeline and contact sheet. Returns after
        wait_s at most; call it again while the film is still rendering."""
        try:
            path = await asyncio.to_thread(_resolved, storyboard)
            task = await self.runtime.call(lambda c: _noop(self._films.get(str(path))))
            if task is not None and not task.done():
                await asyncio.wait_for(self.runtime.call(lambda c: _settle(task, min(max(wait_s, 0.0), 600.0))), 620)
            if task is not None and task.done():
                exc = task.exception()
                if exc is not None:
                    return failure_from(exc)
                result = task.result()
                data = _result_view(result)
                return ok(f"film ready: {result.video} ({result.duration_s:.1f} s)", data)
            st = await self.runtime.call(lambda c: c.film_status(path, provider=provider))
        except Exception as exc:
            return failure_from(exc)
        states = ", ".join(f"{s['shot']} {s['state']}" for s in st.view()["shots"])
        running = task is not None
        hint = "call film_status again" if running else "call render_film to render it"
        return ok(f"{st.plan.title}: {states}; {hint}", {**st.view(), "rendering": running})


def _resolved(path: str) -> Path:
    return Path(path).expanduser().resolve()


async def _noop(value: Any) -> Any:
    return value


async def _settle(task: asyncio.Task[FilmResult], wait_s: float) -> None:
    await asyncio.wait([task], timeout=wait_s)


def _result_view(result: FilmResult) -> dict[str, Any]:
    return {
        **result.status.view(),
        "video": str(result.video),
        "duration_s": round(result.duration_s, 3),
        "timeline": str(result.timeline),
        "contact_sheet": str(result.sheet_png),
        "page": str(result.sheet_html),
        "finished": True,
    }
