"""Links to a video's files that work without the API key: for ``<video src>`` and ``<img src>`` in a browser,
and the bridge's ``videoUrl``. A link names the video, the variant and an expiry, signed by the service
(:meth:`veokit.service.Tenants.sign`); it never carries a key (the design's UI leaked provider keys that way).
Links expire after a day and are stable within the hour, so a browser caches a gallery's posters.
"""

from __future__ import annotations

import hmac
import time
from urllib.parse import urlencode

from veokit.service import Tenants

TTL_S = 24 * 3600
STEP_S = 3600


def content_url(
    tenants: Tenants, base_url: str, key_id: str, job_id: str, variant: str = "video", index: int = 0
) -> str:
    expires = (int(time.time()) // STEP_S + 1) * STEP_S + TTL_S
    query = {"variant": variant, "index": index, "k": key_id, "exp": expires}
    query["sig"] = tenants.sign(_payload(key_id, job_id, variant, index, expires))
    return f"{base_url.rstrip('/')}/v1/videos/{job_id}/content?{urlencode(query)}"


def film_url(tenants: Tenants, base_url: str, key_id: str, film_id: str) -> str:
    """A stitched film's link (:mod:`veokit.server.films`), signed as a video's is, for the variant "film"."""
    expires = (int(time.time()) // STEP_S + 1) * STEP_S + TTL_S
    query = {"k": key_id, "exp": expires, "sig": tenants.sign(_payload(key_id, film_id, "film", 0, expires))}
    return f"{base_url.rstrip('/')}/v1/veokit/films/{film_id}/content?{urlencode(query)}"


def verify(tenants: Tenants, key_id: str, job_id: str, variant: str, index: int, expires: int, sig: str) -> bool:
    if expires < time.time():
        return False
    return hmac.compare_digest(tenants.sign(_payload(key_id, job_id, variant, index, expires)), sig)


def _payload(key_id: str, job_id: str, variant: str, index: int, expires: int) -> str:
    return f"{key_id}:{job_id}:{variant}:{index}:{expires}"
