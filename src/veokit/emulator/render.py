"""Deterministic synthetic MP4 renderer for the Veo emulator and benchmarks.

Frames are composed directly in YUV 4:2:0 planes: the static background and text are drawn once
with Pillow and converted once, so the per-frame work is a few numpy slice assignments and no
swscale pass (whose SIMD paths could also differ between CPUs).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import pathlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from fractions import Fraction
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont, ImageOps

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

# Bump whenever the output bytes for an unchanged spec would change, so render_key() caches miss.
_RENDERER_VERSION = 1
AUDIO_RATE = 48_000
# x264 output is deterministic for a given thread count but differs between counts (it sets the
# slice split), so pin it instead of letting it follow the host's CPU count.
_X264_THREADS = 2
_BT709 = 1  # AVCOL_PRI/TRC/SPC_BT709
_RANGE_TV = 1  # AVCOL_RANGE_MPEG
_CONTAINER_OPTIONS = {"movflags": "+faststart", "fflags": "+bitexact"}


@dataclass(frozen=True)
class RenderSpec:
    prompt: str
    width: int
    height: int
    duration_s: float
    fps: int = 24
    audio: bool = True
    seed: int = 0
    first_frame: bytes | None = None
    last_frame: bytes | None = None
    label: str = ""
    noise: bool = False
    bitrate_hint: int | None = None
    # An extension: this MP4 plays first, then the new seconds, as Veo returns the input plus 7 s. The path is
    # where the emulator keeps it; the key uses its content hash.
    extends: str | None = None
    extends_sha256: str | None = None

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise ValueError(f"width/height must be even and >= 16, got {self.width}x{self.height}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            raise ValueError(f"duration_s must be positive, got {self.duration_s}")
        if self.n_frames < 1:
            raise ValueError(f"duration_s={self.duration_s} is shorter than one frame at {self.fps} fps")

    @property
    def n_frames(self) -> int:
        return round(self.duration_s * self.fps)


def render_key(spec: RenderSpec) -> str:
    """Stable cache key: equal keys mean byte-identical renders (same library versions)."""
    doc: dict[str, Any] = {"renderer": _RENDERER_VERSION}
    for f in fields(spec):
        value = getattr(spec, f.name)
        if f.name == "extends":
            continue  # where the input is kept does not change the render; its content (extends_sha256) does
        if isinstance(value, bytes):
            value = "sha256:" + hashlib.sha256(value).hexdigest()
        elif f.name == "duration_s":
            value = float(value)  # 8 and 8.0 render identically, so must share a key
        doc[f.name] = value
    blob = json.dumps(doc, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def render_mp4(spec: RenderSpec, out: pathlib.Path) -> None:
    """Render ``spec`` to ``out`` atomically (readers never see a partial file)."""
    if spec.extends is not None:
        _render_extension(spec, spec.extends, pathlib.Path(out))
        return
    n = spec.n_frames
    frames = _noise_frames(spec.width, spec.height, spec.seed, n) if spec.noise else _Scene(spec).frames()
    with _atomic_path(pathlib.Path(out)) as tmp, _Encoder(tmp, spec) as enc:
        for yuv in frames:
            enc.write_video(yuv)


def _render_extension(spec: RenderSpec, source: str, out: pathlib.Path) -> None:
    """The input video (pictures and sound, re-encoded) followed by new seconds that start on its last frame,
    ``spec.duration_s`` in all: what Veo returns for an extension. Streamed: one input frame at a time."""
    with av.open(source) as probe:
        stream = probe.streams.video[0]
        head = sum(1 for _ in probe.decode(stream))
    tail = spec.n_frames - head
    if tail < 1:
        raise ValueError(f"an extension of {head} frames must be longer than its input, not {spec.n_frames} frames")
    new = replace(spec, duration_s=tail / spec.fps, extends=None, extends_sha256=None)
    last: U8 | None = None
    with _atomic_path(out) as tmp, _Encoder(tmp, spec, prefix=_InputAudio(source, head, spec.fps)) as enc:
        with av.open(source) as c:
            for frame in c.decode(c.streams.video[0]):
                picture = frame.reformat(width=spec.width, height=spec.height, format="yuv420p")
                last = np.asarray(picture.to_ndarray(), dtype=np.uint8)
                enc.write_video(last)
        scene = _Scene(new)
        scene.first = last  # the continuation picks up where the input ends
        for yuv in scene.frames():
            enc.write_video(yuv)


class _InputAudio:
    """The input video's sound as 48 kHz stereo, exactly as long as its pictures (silence where it has none)."""

    def __init__(self, source: str, frames: int, fps: int) -> None:
        self.total = frames * AUDIO_RATE // fps
        self._chunks = self._read(source)
        self._buf = np.zeros((2, 0), dtype=np.float32)

    def _read(self, source: str) -> Iterator[F32]:
        with av.open(source) as c:
            if c.streams.audio:
                resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
                for frame in c.decode(c.streams.audio[0]):
                    for out in resampler.resample(frame):
                        yield np.asarray(out.to_ndarray(), dtype=np.float32)
        while True:
            yield np.zeros((2, 4096), dtype=np.float32)

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    def read(self, n: int) -> F32:
        while self._buf.shape[1] < n:
            self._buf = np.concatenate([self._buf, next(self._chunks)], axis=1)
        out, self._buf = self._buf[:, :n], self._buf[:, n:]
        return out


def render_large_mp4(
    out: pathlib.Path,
    min_bytes: int,
    width: int = 1920,
    height: int = 1080,
    seed: int = 0,
    *,
    duration_s: float | None = None,
    audio: bool = False,
) -> int:
    """Write a valid, noise-filled MP4 of at least ``min_bytes``; returns its size.

    Rather than predicting a frame count, encoding simply stops once the muxed sample bytes
    exceed the target, so the size is guaranteed and memory stays flat however big it gets.
    With ``duration_s`` the video is exactly that long instead (a large file that still matches
    the request it answers); the caller picks a resolution and length big enough for ``min_bytes``.
    """
    if min_bytes < 0:
        raise ValueError("min_bytes must be >= 0")
    spec = RenderSpec(
        prompt="", width=width, height=height, duration_s=duration_s or 1.0, audio=audio, seed=seed, noise=True
    )
    frames = spec.n_frames if duration_s is not None else None
    out = pathlib.Path(out)
    with _atomic_path(out) as tmp, _Encoder(tmp, spec) as enc:
        for i, yuv in enumerate(_noise_frames(width, height, seed, None)):
            enc.write_video(yuv)
            if (frames is not None and i + 1 >= frames) or (frames is None and enc.sample_bytes >= min_bytes):
                break
    return out.stat().st_size


@contextlib.contextmanager
def _atomic_path(out: pathlib.Path) -> Iterator[pathlib.Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


class _Encoder:
    """H.264 (+ optional AAC) MP4 writer; audio is generated and interleaved as video advances."""

    def __init__(self, path: pathlib.Path, spec: RenderSpec, prefix: _InputAudio | None = None) -> None:
        self._spec = spec
        self._prefix = prefix
        # A track timescale equal to the frame rate makes every video timestamp an exact integer.
        options = {**_CONTAINER_OPTIONS, "video_track_timescale": str(spec.fps)}
        self._container = av.open(str(path), "w", format="mp4", container_options=options)
        self._frames = 0
        self._samples = 0
        self.sample_bytes = 0
        v = self._container.add_stream("libx264", rate=spec.fps)
        v.width, v.height, v.pix_fmt = spec.width, spec.height, "yuv420p"
        v.time_base = Fraction(1, spec.fps)
        cc = v.codec_context
        cc.thread_count = _X264_THREADS
        cc.color_primaries = cc.color_trc = cc.colorspace = _BT709
        cc.color_range = _RANGE_TV
        # One keyframe per second bounds how far probe's last-frame decode has to walk.
        opts: dict[str, object] = {
            "preset": "ultrafast",
            "x264-params": f"keyint={spec.fps}:min-keyint={spec.fps}:scenecut=0",
        }
        if spec.bitrate_hint:
            cc.bit_rate = spec.bitrate_hint
        elif spec.noise:
            # qp=1 rather than 0: near-lossless keeps the file huge without switching to the
            # High 4:4:4 Predictive profile that lossless needs and many players reject.
            opts["qp"] = "1"
        else:
            opts["crf"] = "20"
        v.options = opts
        self._video = v
        self._audio: av.audio.stream.AudioStream | None = None
        tone_spec = spec if prefix is None else replace(spec, duration_s=spec.duration_s - prefix.total / AUDIO_RATE)
        self._tone = _Tone(tone_spec) if spec.audio else None
        if spec.audio:
            a = self._container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            a.time_base = Fraction(1, AUDIO_RATE)
            a.bit_rate = 128_000
            self._audio = a

    def __enter__(self) -> _Encoder:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._flush()
        finally:
            self._container.close()
            if self._prefix is not None:
                self._prefix.close()

    def write_video(self, yuv: U8) -> None:
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = self._frames
        frame.time_base = Fraction(1, self._spec.fps)
        self._mux(self._video.encode(frame))
        self._frames += 1
        self._write_audio_until(self._frames)

    def _write_audio_until(self, n_video_frames: int) -> None:
        if self._audio is None or self._tone is None:
            return
        # Audio length is tied to the video frame count so both streams end at the same instant.
        target = n_video_frames * AUDIO_RATE // self._spec.fps
        while self._samples < target:
            s1 = min(target, self._samples + 1024)
            head = 0 if self._prefix is None else self._prefix.total
            if self._prefix is not None and self._samples < head:  # an extension: the input's own sound first
                s1 = min(s1, head)
                pcm = np.ascontiguousarray(self._prefix.read(s1 - self._samples))
            else:
                pcm = self._tone.samples(self._samples - head, s1 - head)
            frame = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = self._samples
            frame.time_base = Fraction(1, AUDIO_RATE)
            self._mux(self._audio.encode(frame))
            self._samples = s1

    def _flush(self) -> None:
        self._mux(self._video.encode(None))
        if self._audio is not None:
            self._mux(self._audio.encode(None))

    def _mux(self, packets: list[av.Packet[Any]]) -> None:
        for p in packets:
            self.sample_bytes += p.size
        self._container.mux(packets)


class _Tone:
    """A prompt-derived stereo triad plus a short blip on every whole second (for A/V sync checks)."""

    def __init__(self, spec: RenderSpec) -> None:
        h = hashlib.sha256(f"audio\0{spec.prompt}\0{spec.seed}".encode()).digest()
        root = 220.0 * 2 ** ((h[0] % 12) / 12)
        third = 4 if h[1] & 1 else 3
        self._freqs = (root, root * 2 ** (third / 12), root * 2 ** (7 / 12))
        self._total = spec.n_frames * AUDIO_RATE // spec.fps

    def samples(self, s0: int, s1: int) -> F32:
        n = np.arange(s0, s1, dtype=np.float64)
        t = n / AUDIO_RATE
        w = 2 * np.pi * t
        root, _, fifth = self._freqs
        left = sum(0.18 * np.sin(w * f) for f in self._freqs)
        right = 0.18 * np.sin(w * root) + 0.12 * np.sin(w * 2 * fifth)
        blip = np.where((n % AUDIO_RATE) < AUDIO_RATE * 0.03, 0.25 * np.sin(w * 1000.0), 0.0)
        # 10 ms fades avoid clicks at both ends.
        ramp = AUDIO_RATE // 100
        env = np.clip(np.minimum(n + 1, self._total - n) / ramp, 0.0, 1.0)
        return np.stack([(left + blip) * env, (right + blip) * env]).astype(np.float32)


def _noise_frames(width: int, height: int, seed: int, n: int | None) -> Iterator[U8]:
    rng = np.random.default_rng(seed)
    shape = (height * 3 // 2, width)
    i = 0
    while n is None or i < n:
        yield rng.integers(0, 256, size=shape, dtype=np.uint8)
        i += 1


# --- colour handling -------------------------------------------------------------------------


def _rgb_to_yuv420(rgb: U8) -> tuple[U8, U8, U8]:
    """BT.709 limited-range conversion (the stream is tagged BT.709 to match)."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    cb = (b - y) / 1.8556
    cr = (r - y) / 1.5748
    h, w = y.shape
    cb = cb.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    cr = cr.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    y_out = np.clip(np.rint(16 + y * (219 / 255)), 0, 255).astype(np.uint8)
    u_out = np.clip(np.rint(128 + cb * (224 / 255)), 0, 255).astype(np.uint8)
    v_out = np.clip(np.rint(128 + cr * (224 / 255)), 0, 255).astype(np.uint8)
    return y_out, u_out, v_out


def _pack(y: U8, u: U8, v: U8) -> U8:
    h, w = y.shape
    out = np.empty((h * 3 // 2, w), dtype=np.uint8)
    flat = out.reshape(-1)
    flat[: h * w] = y.reshape(-1)
    flat[h * w : h * w * 5 // 4] = u.reshape(-1)
    flat[h * w * 5 // 4 :] = v.reshape(-1)
    return out


def _planes(buf: U8, h: int, w: int) -> tuple[U8, U8, U8]:
    flat = buf.reshape(-1)
    y = flat[: h * w].reshape(h, w)
    u = flat[h * w : h * w * 5 // 4].reshape(h // 2, w // 2)
    v = flat[h * w * 5 // 4 :].reshape(h // 2, w // 2)
    return y, u, v


def _load_cover(data: bytes, width: int, height: int) -> U8:
    try:
        with Image.open(io.BytesIO(data)) as im:
            img = ImageOps.exif_transpose(im).convert("RGB")
    except (OSError, Image.DecompressionBombError, SyntaxError) as e:
        raise ValueError(f"cannot decode keyframe image: {e}") from e
    fitted = ImageOps.fit(img, (width, height), Image.Resampling.LANCZOS)
    return _pack(*_rgb_to_yuv420(np.asarray(fitted, dtype=np.uint8)))


# --- procedural scene ------------------------------------------------------------------------


class _Scene:
    _CHARS = "0123456789:./ f"

    def __init__(self, spec: RenderSpec) -> None:
        self.spec = spec
        w, h = spec.width, spec.height
        self.digest = hashlib.sha256(f"{spec.prompt}\0{spec.seed}".encode()).digest()
        self.unit = max(8, min(w, h) // 40)
        rgb = self._background()
        img = Image.fromarray(rgb)
        draw = ImageDraw.Draw(img)
        self._draw_prompt(draw)
        self._counter_box = self._draw_counter_panel(draw)
        self.base = _pack(*_rgb_to_yuv420(np.asarray(img, dtype=np.uint8)))
        self._glyphs = self._make_glyphs()
        self._sprite = self._make_sprite()
        self.first = _load_cover(spec.first_frame, w, h) if spec.first_frame else None
        self.last = _load_cover(spec.last_frame, w, h) if spec.last_frame else None

    def _background(self) -> U8:
        w, h = self.spec.width, self.spec.height
        d = self.digest
        c0 = np.array(list(d[0:3]), dtype=np.float32) * 0.7 + 20
        c1 = np.array(list(d[3:6]), dtype=np.float32) * 0.7 + 40
        angle = d[6] / 255 * 2 * np.pi
        xs = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :] * np.float32(np.cos(angle))
        ys = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None] * np.float32(np.sin(angle))
        t = np.clip(xs + ys + 0.5, 0, 1)[..., None]
        return (c0 * (1 - t) + c1 * t).astype(np.uint8)

    def _font(self, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        return ImageFont.load_default(size=size)

    def _draw_prompt(self, draw: ImageDraw.ImageDraw) -> None:
        w, h = self.spec.width, self.spec.height
        size = max(10, min(w, h) // 14)
        font = self._font(size)
        margin = w // 12
        lines = _wrap(self.spec.prompt or "(empty prompt)", font, w - 2 * margin)
        max_lines = max(1, int(h * 0.55) // int(size * 1.25))
        if len(lines) > max_lines:
            lines = [*lines[: max_lines - 1], lines[max_lines - 1] + " ..."]
        y = h * 0.18
        stroke = max(1, size // 12)
        black = (0, 0, 0)
        for line in lines:
            draw.text((margin, y), line, font=font, fill=(255, 255, 255), stroke_width=stroke, stroke_fill=black)
            y += size * 1.25
        if self.spec.label:
            small = self._font(max(8, size // 2))
            pos = (margin, h * 0.06)
            draw.text(pos, self.spec.label, font=small, fill=(255, 255, 200), stroke_width=1, stroke_fill=black)

    def _counter_size(self) -> int:
        return max(8, min(self.spec.width, self.spec.height) // 24) // 2 * 2

    def _counter_text(self, i: int) -> str:
        fps, n = self.spec.fps, self.spec.n_frames
        secs, sub = divmod(i, fps)
        mins, secs = divmod(secs, 60)
        width = len(str(n))
        return f"{mins:02d}:{secs:02d}.{sub:02d} f {i + 1:0{width}d}/{n}"

    def _draw_counter_panel(self, draw: ImageDraw.ImageDraw) -> tuple[int, int, int, int]:
        size = self._counter_size()
        font = self._font(size)
        self._advance = {c: math.ceil(font.getlength(c)) for c in self._CHARS}
        # Digits are tabular in the default font, so the last frame's text is the widest.
        text_w = sum(self._advance[c] for c in self._counter_text(self.spec.n_frames - 1))
        pad = size // 2 // 2 * 2
        x0 = y0 = pad  # even offsets keep the panel aligned to the 2x2 chroma grid
        x1 = min(self.spec.width, x0 + text_w + 2 * pad)
        y1 = min(self.spec.height, y0 + size * 3 // 2 + pad)
        x1 -= x1 % 2
        y1 -= y1 % 2
        self._pad = pad
        draw.rectangle((self.spec.width - x1, y0, self.spec.width - x0 - 1, y1 - 1), fill=(20, 20, 20))
        return (self.spec.width - x1, y0, self.spec.width - x0, y1)

    def _make_glyphs(self) -> dict[str, U8]:
        """Pre-shaded luma tiles per character, so the per-frame counter is a row of slice copies."""
        size = self._counter_size()
        font = self._font(size)
        x0, y0, _, y1 = self._counter_box
        ph = y1 - y0 - self._pad
        bg = int(self.base.reshape(-1)[y0 * self.spec.width + x0])
        tiles: dict[str, U8] = {}
        for c in self._CHARS:
            im = Image.new("L", (self._advance[c], ph), 0)
            ImageDraw.Draw(im).text((0, 0), c, font=font, fill=255)
            a = np.asarray(im, dtype=np.uint16)
            tiles[c] = (bg + (a * (235 - bg) + 127) // 255).astype(np.uint8)
        return tiles

    def _make_sprite(self) -> tuple[U8, U8, U8, npt.NDArray[np.uint16], npt.NDArray[np.uint16]]:
        """An anti-aliased disc in YUV with 8-bit alpha at luma and chroma resolution."""
        d = max(8, min(self.spec.width, self.spec.height) // 6) // 2 * 2
        ss = 4
        big = Image.new("L", (d * ss, d * ss), 0)
        ImageDraw.Draw(big).ellipse((0, 0, d * ss - 1, d * ss - 1), fill=255)
        alpha = np.asarray(big.resize((d, d), Image.Resampling.BOX), dtype=np.uint16)
        colour = np.array([255 - b for b in self.digest[0:3]], dtype=np.uint8)
        rgb = np.broadcast_to(colour, (d, d, 3)).copy()
        # A lighter inner ring gives motion a visible rotation cue in stills.
        yy, xx = np.mgrid[0:d, 0:d]
        ring = np.abs(np.hypot(yy - d / 2 + 0.5, xx - d / 2 + 0.5) - d * 0.3) < max(1, d // 20)
        rgb[ring & (xx > d // 2)] = 255
        y, u, v = _rgb_to_yuv420(rgb)
        alpha_c = alpha.reshape(d // 2, 2, d // 2, 2).mean(axis=(1, 3)).astype(np.uint16)
        return y, u, v, alpha, alpha_c

    def _sprite_pos(self, i: int) -> tuple[int, int]:
        w, h = self.spec.width, self.spec.height
        d = self._sprite[0].shape[0]
        s = self.digest
        t = i / self.spec.fps
        fx, fy = 0.11 + s[8] / 255 * 0.2, 0.13 + s[9] / 255 * 0.2
        px, py = s[10] / 255 * 2 * np.pi, s[11] / 255 * 2 * np.pi
        x = (w - d) * (0.5 + 0.5 * math.sin(2 * np.pi * fx * t + px))
        y = (h - d) * (0.5 + 0.5 * math.sin(2 * np.pi * fy * t + py))
        return int(x) // 2 * 2, int(y) // 2 * 2

    def _generated(self, i: int) -> U8:
        w, h, n = self.spec.width, self.spec.height, self.spec.n_frames
        buf = self.base.copy()
        y, u, v = _planes(buf, h, w)
        sy, su, sv, a, ac = self._sprite
        d = sy.shape[0]
        x0, y0 = self._sprite_pos(i)
        _blend_into(y[y0 : y0 + d, x0 : x0 + d], sy, a)
        _blend_into(u[y0 // 2 : (y0 + d) // 2, x0 // 2 : (x0 + d) // 2], su, ac)
        _blend_into(v[y0 // 2 : (y0 + d) // 2, x0 // 2 : (x0 + d) // 2], sv, ac)
        bx0, by0, bx1, _by1 = self._counter_box
        cx = bx0 + self._pad
        cy = by0 + self._pad // 2
        for c in self._counter_text(i):
            # Tiny test resolutions can't fit the whole counter; clip rather than fail.
            tile = self._glyphs[c][:, : max(0, bx1 - cx)]
            y[cy : cy + tile.shape[0], cx : cx + tile.shape[1]] = tile
            cx += tile.shape[1]
        bar = max(2, h // 90) // 2 * 2
        filled = (w * (i + 1) // n) // 2 * 2
        y[h - bar :, :filled] = 235
        u[(h - bar) // 2 :, : filled // 2] = 128
        v[(h - bar) // 2 :, : filled // 2] = 128
        return buf

    def _weights(self, i: int) -> tuple[int, int]:
        """(first, last) image weights out of 256; the generated scene gets the remainder."""
        n = self.spec.n_frames
        t = i / (n - 1) if n > 1 else 0.0
        wf = round(256 * max(0.0, 1 - 2 * t)) if self.first is not None else 0
        wl = round(256 * max(0.0, 2 * t - 1)) if self.last is not None else 0
        if self.first is not None and i == 0:
            return 256, 0
        if self.last is not None and i == n - 1:
            return 0, 256
        return wf, wl

    def frames(self) -> Iterator[U8]:
        for i in range(self.spec.n_frames):
            wf, wl = self._weights(i)
            if wf == 256 and self.first is not None:
                yield self.first.copy()
                continue
            if wl == 256 and self.last is not None:
                yield self.last.copy()
                continue
            gen = self._generated(i)
            if wf and self.first is not None:
                gen = _mix(self.first, gen, wf)
            elif wl and self.last is not None:
                gen = _mix(self.last, gen, wl)
            yield gen


def _blend_into(dst: U8, src: U8, alpha: npt.NDArray[np.uint16]) -> None:
    dst[...] = ((src * alpha + dst * (255 - alpha) + 127) // 255).astype(np.uint8)


def _mix(a: U8, b: U8, wa: int) -> U8:
    out = (a.astype(np.uint16) * wa + b.astype(np.uint16) * (256 - wa) + 128) >> 8
    return out.astype(np.uint8)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: int) -> list[str]:
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        line = ""
        for word in para.split():
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= max_width or not line:
                line = candidate
            else:
                lines.append(line)
                line = word
            # Hard-split words (URLs, CJK runs) that alone overflow the line.
            while font.getlength(line) > max_width and len(line) > 1:
                cut = len(line) - 1
                while cut > 1 and font.getlength(line[:cut]) > max_width:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines
