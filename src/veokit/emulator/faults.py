"""Scripted faults: a rule matcher plus a registry of fault kinds.

A rule says *where* (``route``: submit | poll | download | *, optionally one ``model``), *how often*
(``times``: default 1, -1 for no limit, which is the default when ``probability`` < 1) and *what* (``fault``).
Rules are consumed first-match-first, in the order they were added.

A kind is a :class:`Fault` subclass registered in :data:`KINDS`. Each overrides only the hooks it needs:

- :meth:`Fault.intercept` runs before the route's own logic (answer an HTTP error, sleep);
- :meth:`Fault.outcome` replaces how a submitted operation ends;
- :meth:`Fault.wrap_body` transforms a streamed response body (truncate).

A kind that needs a capability a route lacks (``outcome`` on poll, ``body`` on a redirect) does not match
there, so it stays queued for a route that can honour it. Adding a kind (connection reset, corrupt MP4)
means one subclass and one registry entry; the matcher and the routes stay as they are.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from veokit.emulator.errors import status_for_http
from veokit.emulator.outcome import DEFAULT_FAILURE, DEFAULT_FILTER_REASONS, Outcome
from veokit.emulator.reset import reset_connection

ROUTES = ("submit", "poll", "download")
_DEFAULT_MESSAGES = {
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}


class FaultSpecError(ValueError):
    """A fault rule the admin API cannot accept; the message names the field."""


class Fault:
    kind: ClassVar[str]
    needs: ClassVar[str | None] = None  # a capability the route must offer: "outcome" or "body"

    async def intercept(self, request: Request | None = None) -> Response | None:
        return None

    def outcome(self) -> Outcome | None:
        return None

    def wrap_body(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        return chunks

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True)
class HttpFault(Fault):
    status: int
    body: Any
    headers: dict[str, str]
    kind: ClassVar[str] = "http"

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> HttpFault:
        status = _int(doc, "status", None)
        if not 400 <= status <= 599:
            raise FaultSpecError("fault.status must be an HTTP error status (400-599)")
        headers = doc.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str | int) for v in headers.values()):
            raise FaultSpecError("fault.headers must be an object of strings")
        body = doc.get("body")
        if body is None:
            name = status_for_http(status)
            message = _DEFAULT_MESSAGES.get(status, f"Emulated error {status}.")
            body = {"error": {"code": status, "message": message, "status": name}}
        return cls(status, body, {str(k): str(v) for k, v in headers.items()})

    async def intercept(self, request: Request | None = None) -> Response:
        if isinstance(self.body, str):
            return PlainTextResponse(self.body, status_code=self.status, headers=self.headers)
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status}


@dataclass(frozen=True)
class DelayFault(Fault):
    seconds: float
    kind: ClassVar[str] = "delay"

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> DelayFault:
        seconds = doc.get("seconds")
        if not isinstance(seconds, int | float) or not 0 <= seconds <= 3600:
            raise FaultSpecError("fault.seconds must be a number between 0 and 3600")
        return cls(float(seconds))

    async def intercept(self, request: Request | None = None) -> None:
        await asyncio.sleep(self.seconds)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "seconds": self.seconds}


@dataclass(frozen=True)
class OutcomeFault(Fault):
    result: Outcome
    kind: ClassVar[str] = "outcome"
    needs: ClassVar[str | None] = "outcome"

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> OutcomeFault:
        name = doc.get("outcome")
        if name not in ("filtered", "failed", "large", "ok"):
            raise FaultSpecError("fault.outcome must be one of: filtered, failed, large, ok")
        reasons = doc.get("reasons", list(DEFAULT_FILTER_REASONS))
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise FaultSpecError("fault.reasons must be a list of strings")
        message = doc.get("message", DEFAULT_FAILURE)
        if not isinstance(message, str):
            raise FaultSpecError("fault.message must be a string")
        min_bytes = _int(doc, "min_bytes", 500_000_000) if name == "large" else 0
        count = doc.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise FaultSpecError("fault.count must be an integer >= 1 (how many samples are filtered)")
        return cls(Outcome(name, min_bytes=min_bytes, reasons=tuple(reasons), message=message, filtered=count))

    def outcome(self) -> Outcome:
        return self.result

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "outcome": self.result.kind}


@dataclass(frozen=True)
class TruncateFault(Fault):
    """Stop a streamed body after ``after_bytes`` while Content-Length promised more (a cut download)."""

    after_bytes: int
    kind: ClassVar[str] = "truncate"
    needs: ClassVar[str | None] = "body"

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> TruncateFault:
        return cls(_int(doc, "after_bytes", 0))

    def wrap_body(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        left = self.after_bytes
        for chunk in chunks:
            if left <= 0:
                return
            yield chunk[:left]
            left -= len(chunk)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "after_bytes": self.after_bytes}


@dataclass(frozen=True)
class ResetFault(Fault):
    """A TCP reset. ``when="before_body"``: the request is dropped unread (nothing happens server-side);
    ``when="after_body"``: the request is read and acted on (a submit IS accepted), then the answer is lost.
    A client cannot tell the two apart from its side of the connection, which is the point of the test."""

    when: str
    kind: ClassVar[str] = "reset"

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> ResetFault:
        when = doc.get("when", "before_body")
        if when not in ("before_body", "after_body"):
            raise FaultSpecError("fault.when must be before_body or after_body")
        return cls(when)

    @property
    def needs(self) -> str | None:  # type: ignore[override]
        return "pre" if self.when == "before_body" else "after"

    async def intercept(self, request: Request | None = None) -> Response:
        if request is None:
            raise RuntimeError("a reset fault needs the request's connection")
        reset_connection(request)
        return Response(status_code=500)  # never reaches the client: the connection is gone

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "when": self.when}


@dataclass(frozen=True)
class StaleFault(Fault):
    """A kept-alive connection the server closes just as the client reuses it (its idle timeout ran out while
    the request was on the wire). Fires only on a request that arrives on a connection which already carried
    one, before anything is read: the request is dropped unacted on, and the client sees its connection reset
    with no answer, which for a paid request is an outcome it cannot know. A request on a connection opened for
    it never matches, so the rule waits for one that reuses a connection."""

    kind: ClassVar[str] = "stale"
    needs: ClassVar[str | None] = "reused"

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> StaleFault:
        return cls()

    async def intercept(self, request: Request | None = None) -> Response:
        if request is None:
            raise RuntimeError("a stale-connection fault needs the request's connection")
        reset_connection(request)
        return Response(status_code=500)  # never reaches the client: the connection is gone


@dataclass(frozen=True)
class CorruptFault(Fault):
    """Serve the bytes with a stretch overwritten: right length, wrong content (a damaged MP4)."""

    at_fraction: float
    kind: ClassVar[str] = "corrupt"
    needs: ClassVar[str | None] = "body"

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> CorruptFault:
        at = doc.get("at_fraction", 0.0)
        if not isinstance(at, int | float) or not 0 <= at < 1:
            raise FaultSpecError("fault.at_fraction must be a number in [0, 1)")
        return cls(float(at))

    def wrap_body(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        # The first chunk holds the container header (ftyp/moov with faststart) at fraction 0.
        for i, chunk in enumerate(chunks):
            if i == 0:
                start = int(len(chunk) * self.at_fraction)
                yield chunk[:start] + bytes(len(chunk) - start)
            else:
                yield chunk

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "at_fraction": self.at_fraction}


KINDS: dict[str, Callable[[dict[str, Any]], Fault]] = {
    HttpFault.kind: HttpFault.parse,
    DelayFault.kind: DelayFault.parse,
    OutcomeFault.kind: OutcomeFault.parse,
    TruncateFault.kind: TruncateFault.parse,
    ResetFault.kind: ResetFault.parse,
    StaleFault.kind: StaleFault.parse,
    CorruptFault.kind: CorruptFault.parse,
}

_STAGES = frozenset({"pre", "after"})

# Where each capability exists; a rule whose route can never offer its kind's capability is a mistake.
_CAPABLE_ROUTES = {
    "outcome": {"submit", "*"},
    "body": {"poll", "download", "*"},
    "pre": {"submit", "poll", "download", "*"},
    "after": {"submit", "*"},
    "reused": {"submit", "poll", "download", "*"},
}


@dataclass
class FaultRule:
    route: str
    model: str | None
    times: int  # firings left; -1 = no limit (probabilistic rules)
    fault: Fault
    probability: float = 1.0

    def matches(self, route: str, model: str | None, capabilities: frozenset[str]) -> bool:
        if self.route not in ("*", route):
            return False
        if self.model is not None and self.model != model:
            return False
        if capabilities & _STAGES:  # the pre-read and after-accept stages fire only the kinds made for them
            return self.fault.needs in capabilities
        return self.fault.needs is None or self.fault.needs in capabilities

    def describe(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "model": self.model,
            "times": self.times,
            "probability": self.probability,
            "fault": self.fault.describe(),
        }


def parse_rule(doc: Any) -> FaultRule:
    if not isinstance(doc, dict):
        raise FaultSpecError("each fault rule must be an object")
    route = doc.get("route", "*")
    if route not in (*ROUTES, "*"):
        raise FaultSpecError(f"route must be one of: {', '.join(ROUTES)}, *")
    model = doc.get("model")
    if model is not None and not isinstance(model, str):
        raise FaultSpecError("model must be a string")
    probability = doc.get("probability", 1.0)
    if isinstance(probability, bool) or not isinstance(probability, int | float) or not 0 < probability <= 1:
        raise FaultSpecError("probability must be a number in (0, 1]")
    times = _int(doc, "times", -1 if probability < 1 else 1)
    if times < 1 and times != -1:
        raise FaultSpecError("times must be >= 1, or -1 for no limit (the default for a probabilistic rule)")
    spec = doc.get("fault")
    if not isinstance(spec, dict):
        raise FaultSpecError("fault must be an object with a 'kind'")
    parse = KINDS.get(spec.get("kind", ""))
    if parse is None:
        raise FaultSpecError(f"fault.kind must be one of: {', '.join(KINDS)}")
    fault = parse(spec)
    if fault.needs is not None and route not in _CAPABLE_ROUTES[fault.needs]:
        raise FaultSpecError(f"a fault of kind {fault.kind} cannot fire on route {route}")
    return FaultRule(route, model, times, fault, float(probability))


class FaultBook:
    """Rules in order; probabilistic ones draw from one seeded RNG, so a fault mix replays exactly."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)

    def add(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, route: str, model: str | None, capabilities: frozenset[str] = frozenset()) -> Fault | None:
        """Consume one firing of the first rule that matches, if any."""
        with self._lock:
            for i, rule in enumerate(self._rules):
                if not rule.matches(route, model, capabilities):
                    continue
                if rule.probability < 1 and self._rng.random() >= rule.probability:
                    continue
                if rule.times > 0:
                    rule.times -= 1
                    if rule.times == 0:
                        del self._rules[i]
                return rule.fault
        return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.describe() for r in self._rules]


def _int(doc: dict[str, Any], key: str, default: int | None) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultSpecError(f"{key} must be an integer")
    return value


__all__ = ["KINDS", "Fault", "FaultBook", "FaultRule", "FaultSpecError", "parse_rule"]
