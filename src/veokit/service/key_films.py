"""An API key's films, for the HTTP service: storyboards kept per key, rendered in the background.

    <out dir>/api/<key id>/films/<film id>/storyboard.yaml|json   the storyboard as posted (a pick rewrites it)
                                          film.mp4 film.otio contact-sheet.png index.html   once rendered

Everything about a film is :mod:`veokit.service.film`'s (plan, status, render, pick, as the key's takes); this
module keeps the storyboards and the renders running in this process. A storyboard posted over HTTP is parsed
without local files: its reference images are data: URLs, and a path is refused unread (the sender may not read
this machine's files). Another key's film and a missing one are the same: ``None``.

A render runs as a task on the caller's event loop (the service's), after its price has been confirmed: the
caller names the most it accepts to pay (``confirm_usd``) and nothing starts when the film needs more. A render
lost with the process (a restart) is continued by rendering again: every take already recorded is reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from veokit import errors as E
from veokit.models.film_plan import FilmPlan
from veokit.models.storyboard import Storyboard, parse_storyboard
from veokit.service import film as films
from veokit.service.planning import EPSILON_USD
from veokit.service.tenants import API_DIR
from veokit.store.tenancy import ApiKey

if TYPE_CHECKING:
    from veokit.service.client import VeoClient

FILMS_DIR = "films"
FILM_ID = re.compile(r"film_[0-9a-f]{16}")
KEY_ID = re.compile(r"[A-Za-z0-9_]{1,64}")  # as new_key_id makes them: a folder name, never a path
EVENTS_KEPT = 50
log = logging.getLogger("veokit.films")
Format = Literal["json", "yaml"]


@dataclass(frozen=True)
class KeyFilm:
    id: str
    folder: Path
    storyboard: Path
    created_at: dt.datetime

    @property
    def video(self) -> Path:
        """The stitched film (there once a render has finished, and until a pick changes the edit)."""
        return self.folder / "film.mp4"


@dataclass
class Render:
    """A render of this process: running, or how the last one ended."""

    task: asyncio.Task[None] | None = None
    error: str | None = None
    events: deque[str] = field(default_factory=lambda: deque(maxlen=EVENTS_KEPT))

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class KeyFilms:
    def __init__(self, client: VeoClient) -> None:
        self.client = client
        self._renders: dict[tuple[str, str], Render] = {}

    # -- storyboards ----------------------------------------------------------------------------------------
    @staticmethod
    def parse(text: str, fmt: Format | None = None) -> Storyboard:
        """A storyboard sent by someone else: checked as ``veokit film plan`` checks a file, reading no file."""
        return parse_storyboard(text, fmt=fmt, local_files=False)

    async def create(self, key: ApiKey, text: str, fmt: Format | None = None) -> tuple[KeyFilm, FilmPlan]:
        """Check and price the storyboard (:class:`~veokit.errors.StoryboardError` naming the shot and field),
        then keep it as a new film of the key. Nothing is recorded in the job store and nothing is paid."""
        board = self.parse(text, fmt)
        plan = await asyncio.to_thread(self.client.film_plan, board)
        if fmt is None:
            fmt = "json" if text.lstrip().startswith("{") else "yaml"
        now = dt.datetime.now(dt.UTC)
        film_id = f"film_{int(now.timestamp() * 1000):012x}{secrets.token_hex(2)}"  # sorts by creation
        folder = self._root(key.id) / film_id
        path = folder / f"storyboard.{fmt}"
        await asyncio.to_thread(_write_new, path, text)
        return KeyFilm(film_id, folder, path, _created(film_id)), plan

    async def get(self, key_id: str, film_id: str) -> KeyFilm | None:
        """The film, if this key (by id) has one by that id."""
        if not FILM_ID.fullmatch(film_id) or not KEY_ID.fullmatch(key_id):
            return None
        return await asyncio.to_thread(self._found, self._root(key_id) / film_id)

    async def list(self, key: ApiKey) -> list[KeyFilm]:
        """The key's films, newest first."""

        def scan() -> list[KeyFilm]:
            root = self._root(key.id)
            found = [self._found(p) for p in root.iterdir() if FILM_ID.fullmatch(p.name)] if root.is_dir() else []
            return sorted((f for f in found if f is not None), key=lambda f: f.id, reverse=True)

        return await asyncio.to_thread(scan)

    async def board(self, film: KeyFilm) -> Storyboard:
        text = await asyncio.to_thread(film.storyboard.read_text, "utf-8")
        return self.parse(text, "json" if film.storyboard.suffix == ".json" else "yaml")

    async def text(self, film: KeyFilm) -> str:
        return await asyncio.to_thread(film.storyboard.read_text, "utf-8")

    # -- status, render, pick -------------------------------------------------------------------------------
    async def status(self, key: ApiKey, film: KeyFilm) -> films.FilmStatus:
        return await self.client.film_status(await self.board(film), owner=key)

    def render_of(self, key: ApiKey, film: KeyFilm) -> Render:
        return self._renders.get((key.id, film.id)) or Render()

    async def render(self, key: ApiKey, film: KeyFilm, confirm_usd: float | None) -> films.FilmStatus:
        """Start rendering what the film is missing, when ``confirm_usd`` covers it (else
        :class:`~veokit.errors.InvalidRequest` on ``confirm_usd`` saying the price; nothing recorded), within
        the key's and the service's budgets (:class:`~veokit.errors.BudgetExceeded`). A render of this film
        already running is left to go on."""
        board = await self.board(film)
        st = await self.client.film_status(board, owner=key)
        current = self._renders.get((key.id, film.id))
        if current is not None and current.running:
            return st
        confirm(st.to_pay_usd, confirm_usd, f"rendering pays for {len(st.unrecorded())} take(s)")
        await films.check_budget(self.client, st, confirm_usd, key)
        run = Render()
        run.task = asyncio.create_task(self._render(run, key, film, board, confirm_usd), name=f"veokit-{film.id}")
        self._renders[(key.id, film.id)] = run
        return st

    async def _render(
        self, run: Render, key: ApiKey, film: KeyFilm, board: Storyboard, max_cost_usd: float | None
    ) -> None:
        try:
            result = await self.client.film_render(
                board, out_dir=film.folder, max_cost_usd=max_cost_usd, owner=key, on_event=run.events.append
            )
            run.events.append(f"stitched: {result.duration_s:.1f} s")
        except E.VeokitError as exc:  # the takes' own errors are on their jobs; this says why the film stopped
            run.error = exc.message
        except Exception as exc:  # a bug: the film stays as recorded, and the status says so
            log.exception("rendering film %s failed", film.id)
            run.error = f"internal error, please report it ({type(exc).__name__})"

    async def pick(
        self, key: ApiKey, film: KeyFilm, shot: str, take: int, confirm_usd: float | None
    ) -> tuple[films.PickPreview, bool]:
        """What choosing ``take`` of ``shot`` costs to re-render downstream; applied (the storyboard rewritten,
        the stitched film dropped until rendered again) when ``confirm_usd`` is given and covers that price.
        Returns the preview and whether it was applied; the dependents are rendered by :meth:`render`."""
        if self.render_of(key, film).running:
            raise E.JobStateError(f"film {film.id} is rendering; pick a take once it has finished")
        preview = await self.client.film_pick(await self.board(film), shot, take, write=False, owner=key)
        if confirm_usd is None:
            return preview, False
        confirm(preview.usd, confirm_usd, f"this pick re-renders {len(preview.to_render)} take(s) downstream")
        await asyncio.to_thread(_apply_pick, film, shot, take)
        return preview, True

    async def aclose(self) -> None:
        """Stop this process's renders (their takes stay recorded; rendering again continues them)."""
        tasks = [r.task for r in self._renders.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- files ----------------------------------------------------------------------------------------------
    def _root(self, key_id: str) -> Path:
        return Path(os.path.abspath(self.client.settings.out_dir)) / API_DIR / key_id / FILMS_DIR

    @staticmethod
    def _found(folder: Path) -> KeyFilm | None:
        for name in ("storyboard.yaml", "storyboard.json"):
            path = folder / name
            if path.is_file():
                return KeyFilm(folder.name, folder, path, _created(folder.name))
        return None


def confirm(price_usd: float, confirm_usd: float | None, what: str) -> None:
    """Nothing is paid by surprise: the caller names the most it accepts to pay, at least the price."""
    if price_usd <= 0:
        return
    if confirm_usd is None or confirm_usd + EPSILON_USD < price_usd:
        said = "none was given" if confirm_usd is None else f"${confirm_usd:.2f} was confirmed"
        raise E.InvalidRequest(
            f"confirm_usd: {what}, ${price_usd:.2f}; {said}. Send confirm_usd of at least {price_usd:.2f}",
            field="confirm_usd",
        )


def _write_new(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, "utf-8")
    tmp.replace(path)


def _apply_pick(film: KeyFilm, shot: str, take: int) -> None:
    films.write_pick(film.storyboard, shot, take)
    with contextlib.suppress(FileNotFoundError):  # the stitched film shows the old pick: render again
        film.video.unlink()


def _created(film_id: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(film_id[5:17], 16) / 1000, dt.UTC)
