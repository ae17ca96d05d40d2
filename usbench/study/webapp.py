"""The reader web app (Starlette, served by uvicorn): one image at a time, answers kept.

Routes (``T`` is a reader token, ``A`` the admin token, ``I`` an opaque image id):

- ``GET /r/T``: the reader page (plain HTML/CSS/JS shipped in ``usbench/study/static``).
- ``GET /api/r/T/state``: the reader's name, progress, own answers, next image, CSRF token.
- ``GET /api/r/T/image/I``: the PNG of an image of the reader's set (no name, no cache).
- ``GET /api/r/T/pair/I/left`` and ``…/right``: the two images of a trial (``2afc`` mode).
- ``POST /api/r/T/answer``: JSON ``{image_id, answer, confidence, comment}`` with the
  header ``X-CSRF-Token``; stored at once (:meth:`StudyDatabase.record_answer`).
- ``GET /admin/A``: progress of every reader (counts only; never the key).

Every request checks its token (unknown tokens get 404, like any unknown path). Answers
need ``Content-Type: application/json``, the reader's CSRF token and, when the browser
sends one, an ``Origin`` equal to the app's own; this refuses cross-site posts. Image
files are found by looking the id up in the database, never by a path from the request.
Responses forbid framing, sniffing, caching of images and leaking the token as referrer.
"""

from __future__ import annotations

import hmac
import html
import json
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from usbench.study.blinding import StudyPaths
from usbench.study.database import SIDES, AnswerRefused, Reader, StudyDatabase
from usbench.study.tokens import (
    csrf_token,
    csrf_valid,
    token_digest,
    well_formed_image_id,
    well_formed_token,
)

STATIC_FILES = {"study.css": "text/css", "study.js": "text/javascript"}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _SecurityHeaders:
    """ASGI middleware adding :data:`_SECURITY_HEADERS` to every response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.lower().encode(), v.encode()) for k, v in _SECURITY_HEADERS.items()]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_app(paths: StudyPaths) -> Starlette:
    """The ASGI app serving the study at ``paths`` (its database must exist)."""
    if not paths.database.exists():
        raise FileNotFoundError(
            f"no study at {paths.folder}; create it with `usbench study create`"
        )
    db = StudyDatabase(paths.database)
    views = _Views(db, paths.images, db.meta("secret"), db.meta("admin_sha256"))
    routes = [
        Route("/r/{token}", views.reader_page),
        Route("/static/{file}", views.static_file),
        Route("/api/r/{token}/state", views.state),
        Route("/api/r/{token}/image/{image_id}", views.image),
        Route("/api/r/{token}/pair/{image_id}/{side}", views.pair_image),
        Route("/api/r/{token}/answer", views.answer, methods=["POST"]),
        Route("/admin/{token}", views.admin_page),
    ]
    return Starlette(routes=routes, middleware=[Middleware(_SecurityHeaders)])


def _png(path: Path) -> Response:
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-store"})


def _not_found() -> Response:
    return JSONResponse({"error": "not found"}, status_code=404)


def _refused(message: str, status: int) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class _Views:
    """The request handlers, sharing one database and the study's secrets."""

    def __init__(self, db: StudyDatabase, images: Path, secret: str, admin_sha256: str) -> None:
        self.db, self.images, self.secret, self.admin_sha256 = db, images, secret, admin_sha256
        self.mode = db.mode()

    def _reader(self, request: Request) -> Reader | None:
        token = request.path_params["token"]
        return self.db.reader_by_token(token) if well_formed_token(token) else None

    def reader_page(self, request: Request) -> Response:
        if self._reader(request) is None:
            return _not_found()
        page = resources.files("usbench.study").joinpath("static/reader.html").read_text()
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    def static_file(self, request: Request) -> Response:
        name = request.path_params["file"]
        if name not in STATIC_FILES:
            return _not_found()
        body = resources.files("usbench.study").joinpath(f"static/{name}").read_bytes()
        return Response(body, media_type=STATIC_FILES[name])

    def state(self, request: Request) -> Response:
        reader = self._reader(request)
        if reader is None:
            return _not_found()
        done = self.db.answered(reader)
        upcoming = next((i for i in reader.image_ids if i not in done), None)
        nxt = None
        if upcoming is not None:
            width, height = self.db.image_size(upcoming)
            nxt = {"image_id": upcoming, "width": width, "height": height}
        answers = [
            {"image_id": i, "answer": a.answer, "confidence": a.confidence} for i, a in done.items()
        ]
        body = {
            "reader": reader.name,
            "mode": self.mode,
            "total": len(reader.image_ids),
            "done": len(done),
            "next": nxt,
            "answers": answers,
            "csrf": csrf_token(self.secret, request.path_params["token"]),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def _trial_of_reader(self, request: Request) -> str | None:
        """The requested trial id if well formed and in the reader's set, else ``None``."""
        reader = self._reader(request)
        image_id = request.path_params["image_id"]
        if reader is None or not well_formed_image_id(image_id):
            return None
        return image_id if image_id in reader.image_ids else None

    def image(self, request: Request) -> Response:
        image_id = self._trial_of_reader(request)
        if image_id is None or self.mode != "single":
            return _not_found()
        return _png(self.images / f"{image_id}.png")

    def pair_image(self, request: Request) -> Response:
        trial_id, side = self._trial_of_reader(request), request.path_params["side"]
        if trial_id is None or self.mode != "2afc" or side not in SIDES:
            return _not_found()
        return _png(self.images / f"{self.db.pair_image(trial_id, side)}.png")

    async def answer(self, request: Request) -> Response:
        reader = self._reader(request)
        if reader is None:
            return _not_found()
        refusal = self._cross_site_refusal(request)
        if refusal:
            return _refused(refusal, 403)
        try:
            payload = json.loads(await request.body())
            image_id, answer = str(payload["image_id"]), str(payload["answer"])
            confidence, comment = payload["confidence"], str(payload.get("comment") or "")
        except (ValueError, KeyError, TypeError):
            return _refused("send JSON with image_id, answer, confidence (and comment)", 422)
        if not isinstance(confidence, int) or isinstance(confidence, bool):
            return _refused("confidence must be an integer from 1 to 5", 422)
        if not well_formed_image_id(image_id):
            return _refused("this image is not in your set", 403)
        try:
            stored = self.db.record_answer(reader, image_id, answer, confidence, comment)
        except AnswerRefused as err:
            return _refused(str(err), err.status)
        return JSONResponse({"stored": stored.image_id, "done": len(self.db.answered(reader))})

    def _cross_site_refusal(self, request: Request) -> str | None:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return "answers must be sent as application/json"
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return "cross-site request refused"
        if not csrf_valid(
            self.secret, request.path_params["token"], request.headers.get("x-csrf-token")
        ):
            return "missing or wrong CSRF token; reload the page"
        return None

    def admin_page(self, request: Request) -> Response:
        token = request.path_params["token"]
        if not well_formed_token(token) or not hmac.compare_digest(
            token_digest(token), self.admin_sha256
        ):
            return _not_found()
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{done}</td><td>{total}</td></tr>"
            for name, done, total in self.db.progress()
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Study progress</title>"
            "<link rel='stylesheet' href='/static/study.css'></head><body><main>"
            f"<h1>Study {html.escape(self.db.meta('name'))}: progress</h1>"
            "<table><tr><th>reader</th><th>answered</th><th>images</th></tr>"
            f"{rows}</table></main></body></html>"
        )
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})
