"""HTTP service (FastAPI) over an :class:`~contrastrec.serving.engine.Engine`.

Endpoints: ``GET /recommend?user=ID&k=10[&include_seen=true]``, ``POST /recommend`` with
``{"history": [...], "k": 10, "user": optional, "include_seen": false}``, ``GET /health``;
OpenAPI docs at ``/docs`` and ``/openapi.json``. Errors are JSON ``{"detail": message}``:
404 unknown user, 422 unknown item / k out of range / history too long / malformed body,
400 body not UTF-8, 413 body over ``max_body_bytes``, 408 body not received within ``body_timeout`` seconds.
A malformed request's 422 is FastAPI's list of validation errors, always valid JSON (``NaN``,
``Infinity`` and ``1e400`` are echoed as strings) and short (inputs cut); bad input logs no traceback.
The model is loaded once at startup; handlers are synchronous (run in a thread pool).
The service binds to 127.0.0.1 unless told otherwise; :func:`serve` checks the address first.
"""

import json
import math
import socket
from pathlib import Path
from typing import Annotated, Any, Union

from contrastrec.serving.engine import BadRequest, Engine, UnknownId

MAX_BODY_BYTES = 1 << 20  # 1 MiB: a history of MAX_HISTORY ids is a few tens of KB
BODY_TIMEOUT_S = 10.0  # the whole body must arrive within this many seconds of the request


class BodyLimit:
    """ASGI middleware bounding request bodies in size and in time.

    A ``Content-Length`` over ``max_bytes`` is answered 413 before any of the body is read; a
    body without one (chunked) is counted as it streams and answered 413 as soon as it passes
    ``max_bytes``, so at most ``max_bytes`` are ever held. A body that has not fully arrived
    ``timeout`` seconds after the request started (slow or stalled client) is answered 408.
    Both answers close the connection. The body, read here, is handed to the app in one piece.
    """

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES, timeout: float = BODY_TIMEOUT_S):
        self.app, self.max_bytes, self.timeout = app, int(max_bytes), float(timeout)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = next((v for k, v in scope.get("headers", ()) if k.lower() == b"content-length"), None)
        if length is not None:
            if not length.strip().isdigit():
                return await _reject(send, 400, "invalid Content-Length header")
            if int(length) > self.max_bytes:
                return await _reject(send, 413, self._too_large(int(length)))
        import anyio

        chunks: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client left: nobody to answer
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_bytes:
                        return await _reject(send, 413, self._too_large(None))
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            return await _reject(send, 408, f"request body not received within {self.timeout:g} s")
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: disconnect notifications

        await self.app(scope, replay, send)

    def _too_large(self, length: int | None) -> str:
        got = f"{length} bytes" if length is not None else "more"
        return f"request body too large: {got}; at most {self.max_bytes} bytes"


async def _reject(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _require_fastapi():
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        from contrastrec.tracking import MissingExtra

        raise MissingExtra("contrastrec serve", "fastapi and uvicorn", "serve") from None


class BadAddress(ValueError):
    """A ``--host``/``--port`` the service cannot listen on (checked before the model is loaded)."""


def check_address(host: str, port: int) -> None:
    """Refuse a port outside 1..65535, a host that does not resolve, or an address that cannot be
    bound now (in use, not this machine's, privileged), so that ``serve`` fails before loading the run."""
    if not 1 <= port <= 65535:
        raise BadAddress(f"--port {port}: must be between 1 and 65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise BadAddress(f"--host {host}: not an address of this machine ({e})") from None
    try:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            s.bind(address)
    except OSError as e:
        raise BadAddress(f"--host {host} --port {port}: cannot listen there ({e.strerror or e})") from None


def _json_safe(v: Any) -> Any:
    """``v`` with non-finite floats as the strings JSON readers write them (``NaN``, ``Infinity``):
    JSON has no such numbers, and a validation error echoes the input it refused."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def _brief_input(v: Any, limit: int = 100, items: int = 10) -> Any:
    """A refused input as a validation error echoes it: strings cut to ``limit`` characters, lists
    and objects to ``items`` entries, at every level (a 1 MiB body must not come back whole)."""
    if isinstance(v, str) and len(v) > limit:
        return f"{v[:limit]}... ({len(v)} characters)"
    if isinstance(v, list):
        more = [f"... ({len(v)} items)"] if len(v) > items else []
        return [_brief_input(x, limit, items) for x in v[:items]] + more
    if isinstance(v, dict):
        cut = {_brief_input(k, limit, items): _brief_input(x, limit, items) for k, x in list(v.items())[:items]}
        return {**cut, "...": f"{len(v)} keys"} if len(v) > items else cut
    return v


def _validation_detail(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's list of validation errors, valid JSON (no NaN/Infinity) and short (inputs cut)."""
    return _json_safe([{**e, "input": _brief_input(e["input"])} if "input" in e else e for e in errors])


def _integral_float_to_int(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def create_app(engine: Engine, max_body_bytes: int = MAX_BODY_BYTES, body_timeout: float = BODY_TIMEOUT_S):
    """The FastAPI application answering from ``engine``, its request bodies bounded by
    :class:`BodyLimit` (``max_body_bytes``, ``body_timeout`` seconds)."""
    _require_fastapi()
    from fastapi import FastAPI, HTTPException, Query
    from fastapi.encoders import jsonable_encoder
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr
    from starlette.exceptions import HTTPException as StarletteHTTPException

    # the bounds the engine checks (with its own messages), stated in the schema
    k_range = {"minimum": 1, "maximum": engine.max_k}
    max_history = {"maxItems": engine.max_history}
    a_user = engine.user_map.to_raw(0) if engine.n_users else "1"  # examples in /docs: ids of this run
    some_items = [engine.item_map.to_raw(i) for i in range(min(2, engine.n_items))]

    # JSON types as the schema states them: an integer is 3 or 3.0, never true/false or "3"
    # (lax mode read "user": false as user 0)
    JsonInt = Annotated[StrictInt, BeforeValidator(_integral_float_to_int)]

    class RecommendBody(BaseModel):
        model_config = ConfigDict(extra="forbid")
        history: list[Union[StrictStr, JsonInt]] = Field(default_factory=list, json_schema_extra=max_history,
                                                         description="raw item ids, oldest first",
                                                         examples=[some_items])
        k: JsonInt = Field(10, description=f"number of items, 1..{engine.max_k}", json_schema_extra=k_range)
        user: Union[StrictStr, JsonInt, None] = Field(None, description="raw user id: its known items are "
                                                        "excluded; with an empty history, the user's own "
                                                        "recommendations")
        include_seen: StrictBool = False

    class Recommended(BaseModel):
        id: str
        score: float

    class Answer(BaseModel):
        model: str
        items: list[Recommended]

    class Error(BaseModel):
        detail: Union[str, list[dict[str, Any]]] = Field(
            description="a message, or FastAPI's list of validation errors for a malformed request")

    def errors(*codes: int) -> dict:
        what = {400: "undecodable request body (not UTF-8) or bad Content-Length", 404: "unknown user",
                408: "request body not received in time", 413: "request body too large",
                422: "unknown item, k out of range, history too long or malformed request"}
        return {c: {"model": Error, "description": what[c]} for c in codes}

    app = FastAPI(title="contrastrec", version="1",
                  description=f"Recommendations from run {engine.run.run_id} (model {engine.model_name}). "
                  "Scores are inner products of user/history vectors and item embeddings.")
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, timeout=body_timeout)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        if exc.status_code == 405:  # Starlette's Allow names the first route's methods only
            path = request.url.path
            allowed = {m for r in app.routes if getattr(r, "methods", None) and r.path_regex.match(path)
                       for m in r.methods}
            headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
            exc = StarletteHTTPException(405, exc.detail, headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc):  # FastAPI's answer, JSON even for NaN/Infinity inputs, short
        return JSONResponse(status_code=422, content={"detail": _validation_detail(jsonable_encoder(exc.errors()))})

    def answer(**kw) -> Answer:
        try:
            items = engine.recommend(**kw)
        except UnknownId as e:
            raise HTTPException(404 if e.kind == "user" else 422, detail=str(e)) from None
        except BadRequest as e:
            raise HTTPException(422, detail=str(e)) from None
        return Answer(model=engine.model_name, items=[Recommended(id=i.id, score=i.score) for i in items])

    @app.get("/health")
    def health() -> dict:
        return engine.health()

    @app.get("/recommend", response_model=Answer, responses=errors(404, 422))
    def recommend_user(user: str = Query(..., description="raw user id", examples=[a_user]),
                       k: int = Query(10, description=f"number of items, 1..{engine.max_k}",
                                      json_schema_extra=k_range),
                       include_seen: bool = False) -> Answer:
        return answer(user=user, k=k, include_seen=include_seen)

    @app.post("/recommend", response_model=Answer, responses=errors(400, 404, 408, 413, 422))
    def recommend_history(body: RecommendBody) -> Answer:
        return answer(user=body.user, history=[str(h) for h in body.history], k=body.k,
                      include_seen=body.include_seen)

    return app


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, threads: int = 2,
          dataset: str | None = None, log_level: str = "info", max_body_bytes: int = MAX_BODY_BYTES,
          body_timeout: float = BODY_TIMEOUT_S) -> None:
    """Load the run once (CPU) and serve it with uvicorn until interrupted (on 127.0.0.1 by default).

    ``threads`` bounds torch's intra-op threads; FAISS searches run single-threaded.
    """
    _require_fastapi()
    check_address(host, port)  # before the run is loaded: a bad address fails in a second, not minutes
    import faiss
    import torch
    import uvicorn

    from contrastrec.serving.run import load_run

    torch.set_num_threads(max(1, threads))
    faiss.omp_set_num_threads(1)  # one query per request: parallelism comes from concurrent requests
    engine = Engine(load_run(run_dir, dataset))
    app = create_app(engine, max_body_bytes, body_timeout)
    print(f"serving {engine.model_name} ({engine.n_users} users, {engine.n_items} items) on "
          f"http://{host}:{port}  (docs: /docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
