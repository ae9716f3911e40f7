"""Kie.ai's Veo 3.1 API on the wire: request bodies, the ``code`` envelope, and reading task records.

Kie answers most errors as HTTP 200 with ``{"code": 401, "msg": ..., "data": null}``, so every answer's
``code`` is checked, not only the HTTP status. Its field names drift between doc versions and clients:
``aspect_ratio``/``aspectRatio``, ``seeds``/``seed``, and result URLs in ``data.response.resultUrls``
(record-info), ``data.info.resultUrls`` (callbacks) or, in the old quickstart, ``data.resultUrls`` as a JSON
*string*. Readers here accept every spelling; writers send the currently documented one.

Operation names veokit records: ``<taskId>`` for a 720p result, ``<taskId>:1080p`` when the result must be
fetched through ``get-1080p-video``. A video to extend is named ``kie-task://<taskId>`` (the operation name of
the job that made it): Kie extends only its own tasks, by id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from veokit import errors as E
from veokit.models.request import GenerateRequest
from veokit.providers.task_http import body_message, error_for, is_content_policy, parse_body

TASK_SCHEME = "kie-task://"
UPGRADE_SUFFIX = ":1080p"
SEED_MIN, SEED_MAX = 10000, 99999  # Kie's documented range for ``seeds``
OK = 200


# -- names --------------------------------------------------------------------------------------------------
def operation_name(task_id: str, *, upgrade_1080p: bool) -> str:
    return task_id + (UPGRADE_SUFFIX if upgrade_1080p else "")


def parse_operation_name(name: str) -> tuple[str, bool]:
    if name.endswith(UPGRADE_SUFFIX):
        return name[: -len(UPGRADE_SUFFIX)], True
    return name, False


def task_id_of_video(uri: str | None) -> str:
    """``kie-task://<taskId>`` (or ``kie-task:<taskId>``, or an operation name with ``:1080p``) -> taskId."""
    if uri:
        for prefix in (TASK_SCHEME, "kie-task:"):
            if uri.startswith(prefix) and uri[len(prefix) :].strip("/"):
                return parse_operation_name(uri[len(prefix) :].strip("/"))[0]
    raise E.InvalidRequest(
        f"video: Kie extends only videos it generated; pass {TASK_SCHEME}<taskId> "
        "(the operation name of the job that made it)",
        field="video",
        provider="kie",
    )


def kie_seed(seed: int) -> int:
    """Kie takes seeds 10000-99999 only. A seed in that range passes unchanged; any other is folded into it, which
    keeps it reproducible (the same seed always gives the same Kie seed) where rejecting it would make seeds
    chosen for other providers unusable."""
    if SEED_MIN <= seed <= SEED_MAX:
        return seed
    return SEED_MIN + seed % (SEED_MAX - SEED_MIN + 1)


# -- requests -----------------------------------------------------------------------------------------------
def generation_type(request: GenerateRequest) -> str:
    if request.reference_images:
        return "REFERENCE_2_VIDEO"
    if request.image is not None:
        return "FIRST_AND_LAST_FRAMES_2_VIDEO"  # one image: image-to-video; two: first and last frame
    return "TEXT_2_VIDEO"


def generate_body(
    request: GenerateRequest, model: str, image_urls: list[str], callback_url: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "model": model,
        "aspect_ratio": request.aspect_ratio,
        "generationType": generation_type(request),
    }
    if image_urls:
        body["imageUrls"] = image_urls
    if request.seed is not None:
        body["seeds"] = kie_seed(request.seed)
    if callback_url:
        body["callBackUrl"] = callback_url
    return body


def extend_body(request: GenerateRequest, task_id: str, callback_url: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"taskId": task_id, "prompt": request.prompt, "model": "fast"}
    if request.seed is not None:
        body["seeds"] = kie_seed(request.seed)
    if callback_url:
        body["callBackUrl"] = callback_url
    return body


# -- the envelope -------------------------------------------------------------------------------------------
def code_of(doc: dict[str, Any]) -> int | None:
    code = doc.get("code")
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def is_processing(code: int | None, message: str) -> bool:
    """get-1080p-video answers "1080P is processing…" (code or HTTP 400) until the upgrade is ready."""
    return code in (400, None) and "processing" in message.lower()


def kie_error(
    provider: str,
    code: int,
    message: str,
    *,
    headers: httpx.Headers | None = None,
    secrets: tuple[str | None, ...] = (),
) -> E.VeokitError:
    """Kie's documented codes; the rest mean what the HTTP status of the same number means."""
    message = E.redact(message[:400], *secrets)
    kw: dict[str, Any] = {"provider": provider, "status_code": code}
    if code == 451:
        return E.InvalidRequest(f"{provider}: could not fetch an input image: {message}", field="image", **kw)
    if code == 455:
        return E.ServerError(f"{provider}: under maintenance: {message}", **kw)
    if code == 501:
        return E.GenerationFailed(f"{provider}: generation failed: {message}", **kw)
    if code == 505:
        return E.InvalidRequest(f"{provider}: feature disabled: {message}", **kw)
    return error_for(provider, code, message, headers=headers, secrets=secrets)


def raise_for_code(provider: str, doc: Any, *, secrets: tuple[str | None, ...] = ()) -> dict[str, Any]:
    """The envelope when ``code`` is 200; otherwise the error it stands for (even on HTTP 200)."""
    if not isinstance(doc, dict):
        raise E.UnexpectedResponse(f"{provider}: answer is not a JSON object", provider=provider)
    code = code_of(doc)
    if code == OK:
        return doc
    message, _ = body_message(doc, "no message")
    if code is None:
        raise E.UnexpectedResponse(f"{provider}: answer has no status code: {message[:200]}", provider=provider)
    raise kie_error(provider, code, message, secrets=secrets)


def kie_error_from_response(
    provider: str,
    status_code: int,
    text: str,
    headers: httpx.Headers | None = None,
    *,
    secrets: tuple[str | None, ...] = (),
) -> E.VeokitError:
    """``ErrorMapper`` for HTTP errors: the body's ``code`` says more than the HTTP status when present."""
    doc = parse_body(text)
    message, _ = body_message(doc, text[:300] or f"HTTP {status_code}")
    code = code_of(doc)
    return kie_error(provider, code if code and code != OK else status_code, message, headers=headers, secrets=secrets)


# -- task records -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KieRecord:
    state: Literal["running", "succeeded", "failed"]
    urls: list[str] = field(default_factory=list)
    error_code: int | None = None
    error_message: str = ""

    def error(self, provider: str) -> E.GenerationError:
        why = self.error_message or "no message"
        if is_content_policy(why) and self.error_code in (None, 400, 422):  # Kie: 400 = content policy
            return E.ContentFiltered(
                f"{provider}: the video was blocked by the content policy: {why}",
                provider=provider,
                reasons=[why],
                status="CONTENT_POLICY",
            )
        return E.GenerationFailed(
            f"{provider}: generation failed ({self.error_code or 'no code'}): {why}",
            provider=provider,
            reason=str(self.error_code) if self.error_code else None,
            retryable=self.error_code in (500, 455),
        )


def _flag(data: dict[str, Any]) -> int:
    flag = data.get("successFlag")
    if isinstance(flag, str) and flag.strip().isdigit():
        flag = int(flag)
    if isinstance(flag, int) and not isinstance(flag, bool):
        return flag
    status = str(data.get("status") or "").upper()  # the old quickstart's spelling
    if "SUCCESS" in status:
        return 1
    if "FAIL" in status:
        return 3
    return 0


def _urls(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            try:
                value = json.loads(value)  # the old quickstart: resultUrls as a JSON string
            except ValueError:
                return []
        else:
            return [value] if value.startswith(("http://", "https://")) else []
    if isinstance(value, list):
        return [u for u in value if isinstance(u, str) and u]
    return []


def result_urls(data: dict[str, Any]) -> list[str]:
    """Result URLs wherever this answer keeps them. After an extension ``fullResultUrls`` is the whole video
    (``resultUrls`` only the new part), which is what veokit delivers, as Google's extension does."""
    for container in (data.get("response"), data.get("info"), data):
        if not isinstance(container, dict):
            continue
        for key in ("fullResultUrls", "resultUrls"):
            urls = _urls(container.get(key))
            if urls:
                return urls
    return []


def parse_record(data: Any) -> KieRecord:
    if not isinstance(data, dict):
        return KieRecord("running")
    flag = _flag(data)
    if flag == 0:
        return KieRecord("running")
    if flag == 1:
        return KieRecord("succeeded", urls=result_urls(data))
    code = data.get("errorCode")
    code = int(code) if isinstance(code, int | str) and str(code).strip().isdigit() else None
    return KieRecord("failed", error_code=code, error_message=str(data.get("errorMessage") or data.get("msg") or ""))


def upgrade_url(data: Any) -> str | None:
    """get-1080p-video's ``data.resultUrl`` (also seen as ``url`` or a ``resultUrls`` list)."""
    if isinstance(data, str):
        return data if data.startswith(("http://", "https://")) else None
    if isinstance(data, dict):
        for key in ("resultUrl", "url"):
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
        urls = result_urls(data)
        return urls[0] if urls else None
    return None
