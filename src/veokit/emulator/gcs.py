"""Cloud Storage JSON API, read-only: where Vertex writes videos when ``storageUri`` is set.

Object names arrive URL-encoded (``a%2Fb.mp4``); the server decodes the path before routing, so the
``path`` convertor sees ``a/b.mp4`` either way. GCS still uses the older error shape (``errors[]``
with ``domain``/``reason``), so it has its own error type.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veokit.emulator.auth import bearer
from veokit.emulator.clock import rfc3339
from veokit.emulator.credentials import TokenCheck
from veokit.emulator.errors import RpcError
from veokit.emulator.operations import GcsObject
from veokit.emulator.routing import emulator_state, fire_fault
from veokit.emulator.streaming import file_response


class GcsError(RpcError):
    def __init__(self, http_status: int, message: str, reason: str, **where: str) -> None:
        super().__init__("UNKNOWN", message, http_status=http_status)
        self.reason = reason
        self.where = where

    def body(self) -> dict[str, Any]:
        item = {"message": self.message, "domain": "global", "reason": self.reason, **self.where}
        return {"error": {"code": self.http_status, "message": self.message, "errors": [item]}}


def _authorize(request: Request) -> None:
    state = emulator_state(request)
    token = bearer(request)
    if token is None:
        msg = (
            "Anonymous caller does not have storage.objects.get access to the Google Cloud Storage object. "
            "Permission 'storage.objects.get' denied on resource (or it may not exist)."
        )
        raise GcsError(401, msg, "required", locationType="header", location="Authorization")
    check, _ = state.credentials.check_token(token)
    if check is not TokenCheck.VALID:
        raise GcsError(401, "Invalid Credentials", "authError", locationType="header", location="Authorization")


async def get_object(request: Request) -> Response:
    _authorize(request)
    state = emulator_state(request)
    bucket, name = request.path_params["bucket"], request.path_params["object"]
    obj = state.gcs_object(bucket, name)
    if obj is None:
        raise GcsError(404, f"No such object: {bucket}/{name}", "notFound")
    media = request.query_params.get("alt") == "media" or request.url.path.startswith("/download/")
    if not media:
        return JSONResponse(object_doc(request, obj))
    headers = {"x-goog-generation": str(obj.generation)}
    if request.method == "HEAD":  # no body moves: neither a download nor a chance for a download fault
        return file_response(request, obj.file.path, obj.file.size, obj.content_type, headers=headers)
    state.stats_counters.download()  # every request for the bytes, including ones a fault spoils
    if (answer := (await fire_fault(state, "download", obj.model, "pre", request=request))[1]) is not None:
        return answer
    fault, answer = await fire_fault(state, "download", obj.model, "body")
    if answer is not None:
        return answer
    return file_response(request, obj.file.path, obj.file.size, obj.content_type, fault=fault, headers=headers)


def object_doc(request: Request, obj: GcsObject) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    quoted = quote(obj.name, safe="")
    return {
        "kind": "storage#object",
        "id": f"{obj.bucket}/{obj.name}/{obj.generation}",
        "selfLink": f"{base}/storage/v1/b/{obj.bucket}/o/{quoted}",
        "mediaLink": f"{base}/download/storage/v1/b/{obj.bucket}/o/{quoted}?generation={obj.generation}&alt=media",
        "name": obj.name,
        "bucket": obj.bucket,
        "generation": str(obj.generation),
        "metageneration": "1",
        "contentType": obj.content_type,
        "storageClass": "STANDARD",
        "size": str(obj.file.size),  # int64 fields are JSON strings in Google APIs
        "md5Hash": obj.file.md5_b64,
        "timeCreated": rfc3339(obj.created_at),
        "updated": rfc3339(obj.created_at),
    }


routes = [
    Route("/storage/v1/b/{bucket}/o/{object:path}", get_object, methods=["GET", "HEAD"]),
    Route("/download/storage/v1/b/{bucket}/o/{object:path}", get_object, methods=["GET", "HEAD"]),
]
