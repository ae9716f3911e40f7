"""The GCE metadata server's token and identity paths (point ``GCE_METADATA_HOST`` at the emulator).

google-auth's ``compute_engine`` credentials ping the root, read
``instance/service-accounts/default/?recursive=true`` for the email, then fetch ``…/token``. Like the
real server, every request needs ``Metadata-Flavor: Google`` and every answer carries it back (that
response header is how google-auth decides it is talking to a metadata server).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from veokit.emulator.oauth import issue
from veokit.emulator.routing import emulator_state

_FLAVOR = {"Metadata-Flavor": "Google"}


def _text(body: str, status: int = 200) -> Response:
    return PlainTextResponse(body, status_code=status, headers=_FLAVOR, media_type="application/text")


def _flavored(request: Request) -> bool:
    return request.headers.get("metadata-flavor", "").lower() == "google"


def _refuse() -> Response:
    return _text('Missing required header "Metadata-Flavor": "Google"\n', status=403)


async def root(request: Request) -> Response:
    if not _flavored(request):
        # A browser (or curl) at the emulator's root gets a pointer rather than a metadata refusal.
        return PlainTextResponse("veokit Veo emulator. Admin API: /_emulator/stats\n", headers=_FLAVOR)
    return _text("computeMetadata/\n")


async def metadata(request: Request) -> Response:
    if not _flavored(request):
        return _refuse()
    cfg = emulator_state(request).config
    path = request.path_params.get("path", "").strip("/")
    recursive = request.query_params.get("recursive", "").lower() == "true"
    account_info = {"aliases": ["default"], "email": cfg.service_account_email, "scopes": list(cfg.scopes)}
    simple = {
        "": "instance/\nproject/\nuniverse/\n",
        "project/project-id": cfg.project_id,
        "project/numeric-project-id": "123456789012",
        "universe/universe-domain": "googleapis.com",
        "instance/service-accounts": f"default/\n{cfg.service_account_email}/\n",
    }
    if path in simple:
        return _text(simple[path])
    parts = path.split("/")
    if (
        len(parts) >= 3
        and parts[:2] == ["instance", "service-accounts"]
        and parts[2] in ("default", cfg.service_account_email)
    ):
        leaf = "/".join(parts[3:])
        if leaf == "token":
            return _with_flavor(issue(emulator_state(request), "sa:" + cfg.service_account_email))
        if leaf == "" and recursive:
            return JSONResponse(account_info, headers=_FLAVOR)
        if leaf == "":
            return _text("aliases\nemail\nidentity\nscopes\ntoken\n")
        if leaf == "email":
            return _text(cfg.service_account_email)
        if leaf == "scopes":
            return _text("\n".join(cfg.scopes) + "\n")
        if leaf == "aliases":
            return _text("default\n")
    return _text("Not Found\n", status=404)


def _with_flavor(response: Response) -> Response:
    response.headers.update(_FLAVOR)
    return response


routes = [
    Route("/", root, methods=["GET"]),
    Route("/computeMetadata/v1/{path:path}", metadata, methods=["GET", "POST"]),
    Route("/computeMetadata/v1", metadata, methods=["GET"]),
]
