"""Renders MP4s in a small thread pool, cached by ``render_key``.

Rendering is CPU-bound (x264 + numpy release the GIL), so a 2-worker pool keeps the event loop
responsive while polls and downloads go on. Identical specs share one future and one file, so tests that
repeat a request pay for the render once; with a persistent ``storage_dir`` the cache survives restarts
(files are written atomically, so an existing file is always complete).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from veokit.emulator.render import RenderSpec, render_key, render_large_mp4, render_mp4

log = logging.getLogger("veokit.emulator")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class LargeSpec:
    """A deliberately huge video of noise (``[emulate:large]``): at least ``min_bytes``, at the requested size."""

    min_bytes: int
    width: int
    height: int
    seed: int
    duration_s: float | None = None
    audio: bool = False


# What to render: kept with each operation and task, so a persisted one can be rendered again after a restart.
Recipe = RenderSpec | LargeSpec


@dataclass(frozen=True)
class RenderedFile:
    path: Path
    size: int
    md5_b64: str  # what GCS reports as md5Hash
    sha256_b64: str  # what the Gemini Files API reports as sha256Hash


class RenderPool:
    def __init__(self, directory: Path, workers: int = 2) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="veokit-emu-render")
        self._lock = threading.Lock()
        self._cache: dict[str, Future[RenderedFile]] = {}
        self.renders_started = 0

    def submit(self, recipe: Recipe) -> Future[RenderedFile]:
        if isinstance(recipe, LargeSpec):
            return self.render_large(
                recipe.min_bytes,
                recipe.width,
                recipe.height,
                recipe.seed,
                duration_s=recipe.duration_s,
                audio=recipe.audio,
            )
        return self.render(recipe)

    def render(self, spec: RenderSpec) -> Future[RenderedFile]:
        key = render_key(spec)
        return self._cached(key, lambda out: render_mp4(spec, out))

    def render_large(
        self,
        min_bytes: int,
        width: int,
        height: int,
        seed: int,
        *,
        duration_s: float | None = None,
        audio: bool = False,
    ) -> Future[RenderedFile]:
        key = hashlib.sha256(f"large:v2:{min_bytes}:{width}x{height}:{seed}:{duration_s}:{audio}".encode()).hexdigest()

        def produce(out: Path) -> None:
            render_large_mp4(out, min_bytes, width=width, height=height, seed=seed, duration_s=duration_s, audio=audio)

        return self._cached(key, produce)

    def _cached(self, key: str, produce: Callable[[Path], None]) -> Future[RenderedFile]:
        out = self.directory / f"{key}.mp4"
        with self._lock:
            fut = self._cache.get(key)
            # A failed render is not cached: the next identical request tries again.
            if fut is not None and not (fut.done() and fut.exception() is not None):
                return fut
            fut = self._executor.submit(self._run, out, produce)
            self._cache[key] = fut
            self.renders_started += 1
            return fut

    @staticmethod
    def _run(out: Path, produce: Callable[[Path], None]) -> RenderedFile:
        if not out.is_file():
            produce(out)
        return describe_file(out)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def describe_file(path: Path) -> RenderedFile:
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    return RenderedFile(
        path=path,
        size=size,
        md5_b64=base64.b64encode(md5.digest()).decode(),
        sha256_b64=base64.b64encode(sha.digest()).decode(),
    )
