"""The model registry, derived from the model classes themselves.

Every :class:`~contrastrec.models.base.Recommender` subclass that sets ``NAME`` in a module of
the ``contrastrec.models`` package is found by discovery (adding a model is adding its file);
models defined elsewhere call :func:`register_model`. A class carries everything the rest of the
library asks about a model: ``NAME``, ``DESCRIPTION``, its typed hyper-parameters ``Params``
(config section ``NAME.*``), ``DEFAULTS``, the tuning ``SPACE`` and the ``DEMO`` setting.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Iterator, Mapping

_REGISTRY: dict[str, type] = {}
_discovered = False


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    import contrastrec.models as pkg
    from contrastrec.models.base import Recommender

    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, Recommender) and obj.__module__ == module.__name__
                    and obj.__dict__.get("NAME")):
                _REGISTRY.setdefault(obj.NAME, obj)


def register_model(cls_or_name, module: str | None = None, cls: str | None = None, description: str = "") -> type:
    """Register a model class defined outside ``contrastrec.models``: ``register_model(MyModel)``
    (the class sets ``NAME``), or the older ``register_model(name, module, class_name, description)``."""
    _discover()
    if isinstance(cls_or_name, str):
        klass = getattr(importlib.import_module(module), cls)
        name = cls_or_name
        if klass.__dict__.get("NAME") != name:
            klass.NAME = name
        if description:
            klass.DESCRIPTION = description
    else:
        klass, name = cls_or_name, cls_or_name.__dict__.get("NAME")
        if not name:
            raise ValueError(f"{klass.__name__}: set NAME (the model's CLI name) before registering it")
    _REGISTRY[name] = klass
    return klass


def unregister_model(name: str) -> None:
    _REGISTRY.pop(name, None)


def is_contrastive(cls: type) -> bool:
    """Whether a model class trains a contrastive / self-supervised term (``HAS_SSL``) or is
    contrastive through and through (``schema=integrated`` by default, as DirectAU)."""
    return bool(getattr(cls, "HAS_SSL", False)) or cls.DEFAULTS.get("schema") == "integrated"


def registered() -> dict[str, type]:
    """name -> class, every registered model: baselines first (graph, then sequential), then the
    contrastive models (graph, then sequential), by name within each group."""
    _discover()
    def key(kv):
        name, cls = kv
        return cls.task != "none", is_contrastive(cls), bool(getattr(cls, "sequential", False)), name
    return dict(sorted(_REGISTRY.items(), key=key))


class RegistryView(Mapping):
    """A read-only mapping over the registry (``config.MODELS``: name -> class;
    ``config.MODEL_DESCRIPTIONS``: name -> description)."""

    def __init__(self, attr: str | None = None):
        self.attr = attr

    def _get(self, cls):
        return cls if self.attr is None else getattr(cls, self.attr, "")

    def __getitem__(self, name: str):
        return self._get(registered()[name])

    def __iter__(self) -> Iterator[str]:
        return iter(registered())

    def __len__(self) -> int:
        return len(registered())

    def pop(self, name: str, default=None):
        """Unregister (tests that register a temporary model clean up with it)."""
        cls = _REGISTRY.pop(name, None)
        return default if cls is None else self._get(cls)
