"""Reading a provider's listing of what it accepted, for :class:`~veokit.providers.base.FindsSubmits`.

A listed request is ours only when its input is exactly what veokit would send for the request (built by the
provider's own to-wire function). Listings do not always show the whole input: file inputs sent inline as data
URIs come back dropped or rewritten (Replicate stopped returning data URLs in prediction inputs in 2022:
github.com/replicate/inpainter/issues/1), a service may fill in defaults, and old payloads are deleted. A listed
request that agrees with ours on everything it shows but not on everything is *unsure*: it may be ours. One
unsure candidate turns the whole answer into "cannot tell" (``None``): veokit must never read "not accepted"
from a listing that could not have shown it, since that answer queues a paid request again.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from veokit.errors import VeokitError

# Pages of a listing read at most per lookup (100 entries a page on Replicate and fal): a lookup's window is
# minutes, so running past this means the account is busier than a lookup can read, and the answer is None.
MAX_PAGES = 5


class Match(enum.Enum):
    SAME = "same"
    DIFFERENT = "different"
    UNSURE = "unsure"


def _canonical(value: Any) -> str:
    # JSON text, not Python equality: True == 1 and 8 == 8.0 in Python, but not on the wire.
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _inline_file(value: Any) -> bool:
    if isinstance(value, list):
        return any(_inline_file(v) for v in value)
    return isinstance(value, str) and value.startswith("data:")


def compare(ours: Mapping[str, Any], listed: Any) -> Match:
    """How a listed request's input relates to the input veokit would send."""
    if not isinstance(listed, dict) or not listed:
        return Match.UNSURE  # no payload shown (removed, or never stored): it may be anything
    unsure = False
    for key in ours.keys() | listed.keys():
        if key not in ours or key not in listed:
            unsure = True  # echoed without one of our fields, or with one filled in
        elif _canonical(ours[key]) != _canonical(listed[key]):
            if not _inline_file(ours[key]):
                return Match.DIFFERENT  # a value both show, and it differs: another request
            unsure = True  # our data URI, shown rewritten (an uploaded file's URL)
    return Match.UNSURE if unsure else Match.SAME


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp as listings give it (``Z`` or an offset), timezone-aware; None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def verdict(found: Iterable[tuple[dt.datetime, str, Match]]) -> list[str] | None:
    """The operations whose input is ours, oldest first; None as soon as any candidate is unsure."""
    same: list[tuple[dt.datetime, str]] = []
    for at, name, match in found:
        if match is Match.UNSURE:
            return None
        if match is Match.SAME:
            same.append((at, name))
    return [name for _, name in sorted(same)]


async def read_page(read: Callable[[], Awaitable[Any]], key: str) -> tuple[dict[str, Any], list[Any]] | None:
    """One page of a listing: the document and its ``key`` list. A listing that failed for now (timeout, 5xx,
    429) is raised, so the engine asks again later; one refused for good, or an answer we cannot read, says
    nothing (``None``)."""
    try:
        doc = await read()
    except VeokitError as exc:
        if exc.retryable:
            raise
        return None
    items = doc.get(key) if isinstance(doc, dict) else None
    return (doc, items) if isinstance(items, list) else None
