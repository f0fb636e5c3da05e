"""HTTP service (FastAPI) over an :class:`~contrastrec.serving.engine.Engine`.

Endpoints: ``GET /recommend?user=ID&k=10[&include_seen=true]``, ``POST /recommend`` with
``{"history": [...], "k": 10, "user": optional, "include_seen": false}``, ``GET /health``;
OpenAPI docs at ``/docs`` and ``/openapi.json``. Errors are JSON ``{"detail": message}``:
404 unknown user, 422 unknown item / k out of range / history too long / malformed body.
The model is loaded once at startup; handlers are synchronous (run in a thread pool).
"""

from pathlib import Path
from typing import Union

from contrastrec.serving.engine import BadRequest, Engine, UnknownId


def _require_fastapi():
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        from contrastrec.tracking import MissingExtra

        raise MissingExtra("contrastrec serve", "fastapi and uvicorn", "serve") from None


def create_app(engine: Engine):
    """The FastAPI application answering from ``engine``."""
    _require_fastapi()
    from fastapi import FastAPI, HTTPException, Query
    from pydantic import BaseModel, ConfigDict, Field

    class RecommendBody(BaseModel):
        model_config = ConfigDict(extra="forbid")
        history: list[Union[str, int]] = Field(default_factory=list, description="raw item ids, oldest first")
        k: int = Field(10, description=f"number of items, 1..{engine.max_k}")
        user: Union[str, int, None] = Field(None, description="raw user id: its known items are excluded; "
                                            "with an empty history, the user's own recommendations")
        include_seen: bool = False

    class Recommended(BaseModel):
        id: str
        score: float

    class Answer(BaseModel):
        model: str
        items: list[Recommended]

    app = FastAPI(title="contrastrec", version="1",
                  description=f"Recommendations from run {engine.run.run_id} (model {engine.model_name}). "
                  "Scores are inner products of user/history vectors and item embeddings.")

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

    @app.get("/recommend", response_model=Answer)
    def recommend_user(user: str = Query(..., description="raw user id"), k: int = 10,
                       include_seen: bool = False) -> Answer:
        return answer(user=user, k=k, include_seen=include_seen)

    @app.post("/recommend", response_model=Answer)
    def recommend_history(body: RecommendBody) -> Answer:
        return answer(user=body.user, history=[str(h) for h in body.history], k=body.k,
                      include_seen=body.include_seen)

    return app


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, threads: int = 2,
          dataset: str | None = None, log_level: str = "info") -> None:
    """Load the run once (CPU) and serve it with uvicorn until interrupted.

    ``threads`` bounds torch's intra-op threads; FAISS searches run single-threaded.
    """
    _require_fastapi()
    import faiss
    import torch
    import uvicorn

    from contrastrec.serving.run import load_run

    torch.set_num_threads(max(1, threads))
    faiss.omp_set_num_threads(1)  # one query per request: parallelism comes from concurrent requests
    engine = Engine(load_run(run_dir, dataset))
    app = create_app(engine)
    print(f"serving {engine.model_name} ({engine.n_users} users, {engine.n_items} items) on "
          f"http://{host}:{port}  (docs: /docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
