"""From a trained run to users: load a run, answer recommendation queries, serve them over HTTP.

* :mod:`.run`: :func:`load_run` rebuilds a run directory (config, data split, model) on CPU;
* :mod:`.engine`: :class:`Engine` answers "top-k for this user / this history" with raw ids;
* :mod:`.app`: the FastAPI service (``contrastrec serve``; needs ``pip install 'contrastrec[serve]'``).
"""
from contrastrec.serving.engine import BadRequest, Engine, Item, UnknownId
from contrastrec.serving.run import LoadedRun, load_run

__all__ = ["BadRequest", "Engine", "Item", "LoadedRun", "UnknownId", "load_run"]
