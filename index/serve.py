"""`python -m index serve`: the web page and its JSON API over one index folder.

Starlette (ASGI) served by uvicorn. The index is opened once, when the app is made; every
route is a GET that reads it, so the server cannot change anything on disk. Each answer is
made by index.answers, the functions behind `index query --json`: the page and the CLI give
the same answers.

    GET /                          the page (index/web/: plain HTML, CSS and JavaScript)
    GET /api/info                  what the index holds (films, links, map, ranking model)
    GET /api/films?q=TEXT          suggestions for a typed title
    GET /api/film/ID               one film's facts (the map's hover)
    GET /api/similar/TITLE?k=10    films like a film, with the links they share (reasons)
    GET /api/links/TITLE?k=10      pages like a page
    GET /api/recommend?liked=TITLE&liked=...   films for someone who liked these
    GET /api/recommend?rated=TITLE=STARS&...   the same from stars (needs a ranking model)
    GET /api/user/ID?k=10          a user's recommendations (needs a ranking model)
    GET /api/map                   the films' 2-D coordinates: float32 x, y pairs by film id

Errors are JSON `{"error": message}` with a 4xx status (404 for a title, user or model the
index lacks, with "suggestions" or "candidates"); an unexpected failure is logged here and
answered 500 without its traceback.

Light answers (the page, info, a film's facts, the map) are made on the event loop; heavy
ones (suggestions, similar, links, recommend, user) in a bounded pool of threads (HeavyWork),
so a burst of heavy requests queues only behind itself and, past the queue's length, is
told 503 with Retry-After. A rebuilt index (`index build --overwrite`) is noticed within a
second and served from then on (LiveIndex).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from pathlib import Path

import anyio
import anyio.to_thread
import numpy as np
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from conf.errors import WikifilmsError
from conf.jsontext import dumps
from index import answers
from index.arguments import MAX_TITLE_BYTES, UsageError, check_title
from index.folder import (
    IndexFolderError,
    open_index,
    open_ranking,
    read_index_manifest,
)
from index.ranking import (
    NotInRatings,
    RankingError,
    for_ratings,
    for_user,
    parse_rated,
    user_id,
)

logger = logging.getLogger(__name__)

WEB = Path(__file__).with_name("web")
MAX_K = 100
MAX_LIKED = 50
SUGGESTIONS = 8
REASONS = 5
# Heavy answers at once (about the cores of a small server: numpy releases the GIL in its
# loops, the rest is Python), and how many more may wait before the server answers 503.
HEAVY_WORKERS = 2
HEAVY_WAITING = 32
# The page loads only its own files; nothing inline, nothing from elsewhere.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]


class ServeError(WikifilmsError, ValueError):
    """The server cannot start (a bad index folder, a port in use); the message says why."""


class Explorer:
    """The opened index: both sides, and the ranking model where it has one."""

    def __init__(self, index_dir: str | Path):
        self.folder = Path(index_dir)
        self.id = read_index_manifest(self.folder)["id"]
        self.films = open_index(self.folder, "films")
        self.links = open_index(self.folder, "links")
        has_ranking = bool(read_index_manifest(self.folder).get("ranking"))
        self.ranking = open_ranking(self.folder) if has_ranking else None
        if self.films.map_xy is not None:
            # Sent as it lies on disk: little-endian float32 pairs, row = film id.
            self.map_bytes = np.ascontiguousarray(self.films.map_xy, dtype="<f4").tobytes()
        else:
            self.map_bytes = None

    @property
    def where(self) -> str:
        """The index as answers name it: its folder's name, not where it lies on the server."""
        return f"index {self.folder.resolve().name!r}"


class LiveIndex:
    """The Explorer of an index folder, replaced when `index build --overwrite` swaps in a new
    one: the manifest's id is read at most once every `check_every_s` seconds, and a new id
    opens the new index (the CLI opens whatever is there at each query). The old Explorer is
    dropped; its memory maps close when the last answer using it ends. A folder caught in the
    middle of a swap keeps the old index until the next check."""

    def __init__(self, folder: str | Path, check_every_s: float = 1.0,
                 clock=time.monotonic) -> None:
        self.folder, self.check_every_s, self.clock = Path(folder), check_every_s, clock
        self.explorer = Explorer(self.folder)
        self._checked = clock()
        self._lock = threading.Lock()

    def get(self) -> Explorer:
        now = self.clock()
        if now - self._checked >= self.check_every_s and self._lock.acquire(blocking=False):
            try:
                self._checked = now
                self._reopen_if_rebuilt()
            finally:
                self._lock.release()
        return self.explorer

    def _reopen_if_rebuilt(self) -> None:
        try:
            now_id = read_index_manifest(self.folder)["id"]
            if now_id != self.explorer.id:
                self.explorer = Explorer(self.folder)
                logger.info("serving the index rebuilt in %s (manifest %s)", self.folder,
                            self.explorer.id[:8])
        except IndexFolderError as e:  # a swap under way, or a broken build: keep serving
            logger.warning("still serving index %s: %s", self.explorer.id[:8], e)


class HeavyWork:
    """Answers that take milliseconds of CPU (similar films, suggestions, recommendations)
    run in worker threads, at most `workers` at once, so that light answers (info, a film's
    facts, the map) stay on the event loop and are not queued behind them; at most
    `max_waiting` more wait for a worker, and beyond that the server answers 503 with
    Retry-After rather than letting every answer's latency grow without bound."""

    def __init__(self, workers: int = HEAVY_WORKERS, max_waiting: int = HEAVY_WAITING):
        self.limiter = anyio.CapacityLimiter(workers)
        self.max_waiting = max_waiting
        self.pending = 0  # running + waiting; changed on the event loop only

    async def run(self, answer, *args) -> Response:
        if self.pending >= self.limiter.total_tokens + self.max_waiting:
            return _json({"error": "the server is busy with other requests: try again in a "
                                   "second"}, 503, headers={"retry-after": "1"})
        self.pending += 1
        try:
            return _json(await anyio.to_thread.run_sync(answer, *args, limiter=self.limiter))
        finally:
            self.pending -= 1


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name}={raw[:20]!r}: give a whole number") from None
    if not low <= value <= high:
        raise UsageError(f"{name}={value}: give a number from {low} to {high}")
    return value


class _FiniteJSON(JSONResponse):
    """Starlette's JSONResponse, but a number that is not finite is null (conf.jsontext),
    not a failure of the whole answer."""

    def render(self, content) -> bytes:
        return dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json(payload, status: int = 200, headers: dict | None = None) -> JSONResponse:
    return _FiniteJSON(payload, status_code=status, headers=headers)


def _model(explorer: Explorer, name: str):
    """The index's `name` model, or NotFound saying how to build an index with one."""
    model = getattr(explorer, name)
    if model is None:
        raise answers.NotFound(f"{explorer.where} holds no {name} model: build the index "
                               f"with `python -m index build --run RUN_DIR --{name}-run "
                               f"{name.upper()}_DIR --out INDEX_DIR`")
    return model


# --- light answers: microseconds, on the event loop ---------------------------------------
def info(x: Explorer, request: Request) -> dict:
    return {
        "index": x.folder.resolve().name, "films": len(x.films.vectors),
        "links": len(x.links.vectors), "map": x.map_bytes is not None,
        "reasons": x.films.colink is not None, "ranking": x.ranking is not None,
        "users": len(x.ranking.user_ids) if x.ranking is not None else 0,
        "limits": {"k": MAX_K, "liked": MAX_LIKED, "title_bytes": MAX_TITLE_BYTES},
    }


def film(x: Explorer, request: Request) -> dict:
    raw = request.path_params["id"]
    try:
        i = int(raw)
    except ValueError:
        raise UsageError(f"film id {raw[:20]!r}: give a whole number") from None
    if not 0 <= i < len(x.films.vectors):
        raise answers.NotFound(f"no film {i} in {x.where} (ids 0 to "
                               f"{len(x.films.vectors) - 1})")
    return answers.facts(x.films, i)


# --- heavy answers: milliseconds, in HeavyWork's threads ----------------------------------
def films(x: Explorer, request: Request) -> dict:
    text = request.query_params.get("q", "")
    limit = _int_param(request, "limit", SUGGESTIONS, 1, 50)
    if not text.strip():
        return {"query": text, "match": None, "suggestions": []}
    text = check_title(text)
    return {"query": text, **answers.suggestions(x.films, text, limit)}


def similar(x: Explorer, request: Request) -> dict:
    k = _int_param(request, "k", 10, 1, MAX_K)
    i, note = answers.resolve(x.films, check_title(request.path_params["film"]), x.where)
    return {"query": {**answers.facts(x.films, i), "note": note},
            **answers.liked(x.films, x.links, [i], k, REASONS)}


def links(x: Explorer, request: Request) -> dict:
    k = _int_param(request, "k", 10, 1, MAX_K)
    i, note = answers.resolve(x.links, check_title(request.path_params["link"]), x.where)
    return {"query": {**answers.facts(x.links, i), "note": note},
            "neighbours": answers.similar(x.links, [i], k)}


def recommend(x: Explorer, request: Request) -> dict:
    k = _int_param(request, "k", 10, 1, MAX_K)
    liked = request.query_params.getlist("liked")
    rated = request.query_params.getlist("rated")
    if bool(liked) == bool(rated) or len(liked) + len(rated) > MAX_LIKED:
        raise UsageError(f"give liked=TITLE (1 to {MAX_LIKED} of them) or "
                         "rated=TITLE=STARS, not both")
    if rated:
        ranking = _model(x, "ranking")
        pairs = [(check_title(t), s) for t, s in parse_rated(rated)]
        items = answers.ratings_items(ranking, x.films, pairs, x.where)
        return {"query": [ranking.describe(i) | {"stars": s} for i, s in items.items()],
                "answers": answers.ranked(ranking, for_ratings(ranking, items, k))}
    ids = [answers.resolve(x.films, check_title(title), x.where)[0] for title in liked]
    ids = list(dict.fromkeys(ids))
    return {"query": [answers.facts(x.films, i) for i in ids],
            **answers.liked(x.films, x.links, ids, k, REASONS)}


def user(x: Explorer, request: Request) -> dict:
    k = _int_param(request, "k", 10, 1, MAX_K)
    ranking = _model(x, "ranking")
    raw = request.path_params["id"]
    if len(raw) > 100:
        raise UsageError("a user id of more than 100 characters")
    u = user_id(ranking, raw.strip())
    return {"user": raw.strip(), "rated": len(ranking.rated_by(u)),
            "answers": answers.ranked(ranking, for_user(ranking, u, k))}


def create_app(index_dir: str | Path, *, allowed_hosts: list[str] | None = None,
               heavy: HeavyWork | None = None, check_every_s: float = 1.0) -> Starlette:
    """The ASGI app over the index folder (opened here, and again when a build replaces it).
    `allowed_hosts`: the Host headers answered (a page on localhost must not be reachable by
    DNS rebinding); `heavy`: the pool of the heavy answers (HeavyWork's defaults)."""
    live = LiveIndex(index_dir, check_every_s)
    heavy = heavy or HeavyWork()

    def light_route(answer):
        async def route(request: Request) -> Response:
            return _json(answer(live.get(), request))
        return route

    def heavy_route(answer):
        async def route(request: Request) -> Response:
            return await heavy.run(answer, live.get(), request)
        return route

    async def page(request: Request) -> Response:
        return FileResponse(WEB / "index.html", media_type="text/html; charset=utf-8")

    async def film_map(request: Request) -> Response:
        x = live.get()
        if x.map_bytes is None:
            raise answers.NotFound(f"{x.where} holds no map: the run was trained with "
                                   "export.map = false, or before the map was kept")
        return Response(x.map_bytes, media_type="application/octet-stream",
                        headers={"x-films": str(len(x.films.vectors)),
                                 "cache-control": "max-age=3600"})

    routes = [
        Route("/", page),
        Route("/api/info", light_route(info)),
        Route("/api/films", heavy_route(films)),
        Route("/api/film/{id}", light_route(film)),
        Route("/api/similar/{film:path}", heavy_route(similar)),
        Route("/api/links/{link:path}", heavy_route(links)),
        Route("/api/recommend", heavy_route(recommend)),
        Route("/api/user/{id:path}", heavy_route(user)),
        Route("/api/map", film_map),
        Mount("/static", StaticFiles(directory=WEB), name="static"),
    ]
    handlers = {
        UsageError: _error(400), RankingError: _error(400), answers.NotFound: _error(404),
        NotInRatings: _error(404), 404: _error(404), 405: _error(405),
        Exception: _internal_error,
    }
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or ["*"])]
    app = Starlette(routes=routes, exception_handlers=handlers, middleware=middleware)
    app.add_middleware(_SecurityHeaders)
    app.state.live = live
    return app


def _error(status: int):
    def handle(request: Request, exc: Exception) -> JSONResponse:
        body = {"error": getattr(exc, "detail", None) or str(exc)}
        for extra in ("suggestions", "candidates"):
            if getattr(exc, extra, None):
                body[extra] = getattr(exc, extra)
        return _json(body, status)
    return handle


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _json({"error": "internal error (the server's log has the details)"}, 500)


class _SecurityHeaders:
    """Adds SECURITY_HEADERS to every response (pure ASGI: streams pass through)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or ServeError saying why not (a port in use)."""
    address = host.strip("[]")  # "[::1]" as in a URL
    try:
        family = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((address, port), family=family)
    except OSError as e:
        raise ServeError(f"cannot listen on {host}:{port} ({e.strerror or e}): give another "
                         "--port, or --host") from e
    return sock


def make_server(index_dir: str | Path, host: str, port: int, heavy: HeavyWork | None = None):
    """(uvicorn.Server, its listening socket, the page's address): the index opened, the
    port bound; `server.run(sockets=[sock])` serves until Ctrl-C or `should_exit`."""
    import uvicorn

    try:
        app = create_app(index_dir, allowed_hosts=LOOPBACK_HOSTS if is_loopback(host) else None,
                         heavy=heavy)
    except IndexFolderError as e:
        raise ServeError(str(e)) from e
    sock = listen(host, port)
    port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config), sock, f"http://{shown}:{port}/"
