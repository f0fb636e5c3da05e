"""Counting host reads of tensors (a CPU stand-in for the device synchronisations of a GPU step).

A read is a call of ``item``, ``tolist``, ``numpy``, ``cpu``, ``bool``/``int``/``float``/``index`` on a
tensor *made directly by contrastrec code* (the immediate caller is a file under ``src/contrastrec``);
reads inside torch itself (Adam's CPU step counter) are not counted. On a GPU each such read of a device
tensor waits for the device.
"""
from __future__ import annotations

import collections
import contextlib
import sys

import torch

METHODS = ("item", "tolist", "numpy", "cpu", "__bool__", "__int__", "__float__", "__index__")


@contextlib.contextmanager
def count_host_reads():
    """Yields a Counter of ``"module.py:function"`` -> reads made while the block runs (a read in a
    comprehension or lambda is named after the function that holds it)."""
    counts: collections.Counter = collections.Counter()
    originals = {m: getattr(torch.Tensor, m) for m in METHODS}

    def wrap(method):
        fn = originals[method]

        def counted(self, *args, **kwargs):
            frame = sys._getframe(1)
            path = frame.f_code.co_filename.replace("\\", "/")
            if "/contrastrec/" in path and "/tests/" not in path:
                while frame.f_code.co_name.startswith("<") and frame.f_back is not None:  # comprehension: its function
                    frame = frame.f_back
                counts[f"{path.rsplit('/contrastrec/', 1)[1]}:{frame.f_code.co_name}"] += 1
            return fn(self, *args, **kwargs)

        return counted

    try:
        for m in METHODS:
            setattr(torch.Tensor, m, wrap(m))
        yield counts
    finally:
        for m, fn in originals.items():
            setattr(torch.Tensor, m, fn)
