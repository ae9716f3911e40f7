"""Which API keys and bearer tokens the emulator accepts, and who they belong to.

Secrets are stored only as SHA-256 digests and looked up by digest, so nothing the emulator keeps (and
so nothing stats or logs can show) contains a credential. A credential's *id* is what stats report:
``key:<sha256[:10]>``, ``token:<sha256[:10]>``, or the identity a token was issued to (``sa:<email>``).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from veokit.emulator.clock import Clock


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def key_id(key: str) -> str:
    return "key:" + digest(key)[:10]


def token_id(token: str) -> str:
    return "token:" + digest(token)[:10]


class TokenCheck(Enum):
    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class IssuedToken:
    identity: str
    expires_at: float


class CredentialStore:
    def __init__(self, clock: Clock, api_keys: Iterable[str], bearer_tokens: Iterable[str]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._keys = {digest(k): key_id(k) for k in api_keys}
        self._static_tokens = {digest(t): token_id(t) for t in bearer_tokens}
        self._issued: dict[str, IssuedToken] = {}
        self.issued_total = 0
        self.on_issue: Callable[[], None] | None = None  # a persisted emulator keeps issued tokens (digests only)
        self._persist_lock = threading.Lock()

    def check_key(self, key: str) -> str | None:
        """The credential id for a valid API key, else None."""
        return self._keys.get(digest(key))

    def check_token(self, token: str) -> tuple[TokenCheck, str | None]:
        d = digest(token)
        static = self._static_tokens.get(d)
        if static is not None:
            return TokenCheck.VALID, static
        with self._lock:
            issued = self._issued.get(d)
        if issued is None:
            return TokenCheck.UNKNOWN, None
        if self._clock.now() >= issued.expires_at:
            return TokenCheck.EXPIRED, issued.identity
        return TokenCheck.VALID, issued.identity

    def issue(self, identity: str, lifetime_s: float) -> str:
        # "ya29." like Google's access tokens, so veokit's redaction patterns recognise them too.
        token = "ya29.emu-" + secrets.token_urlsafe(32)
        with self._lock:
            self._issued[digest(token)] = IssuedToken(identity, self._clock.now() + lifetime_s)
            self.issued_total += 1
            self._prune()
        if self.on_issue is not None:
            # Serialised, and each call exports the table as it is by then, so the last write is the newest.
            with self._persist_lock:
                self.on_issue()
        return token

    def export(self) -> dict[str, Any]:
        """Issued tokens by digest (never the token itself), for a persisted emulator."""
        with self._lock:
            issued = {d: {"identity": t.identity, "expires_at": t.expires_at} for d, t in self._issued.items()}
            return {"issued": issued, "issued_total": self.issued_total}

    def restore(self, doc: dict[str, Any]) -> None:
        with self._lock:
            for d, t in (doc.get("issued") or {}).items():
                self._issued[str(d)] = IssuedToken(str(t["identity"]), float(t["expires_at"]))
            self.issued_total = max(self.issued_total, int(doc.get("issued_total", 0)))

    def _prune(self) -> None:
        # Keep the table bounded in long-running CI emulators; a token long past expiry can go.
        if len(self._issued) < 10_000:
            return
        cutoff = self._clock.now()
        for d in [d for d, t in self._issued.items() if t.expires_at < cutoff]:
            del self._issued[d]
