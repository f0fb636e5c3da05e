"""Markers and helpers of the data tests."""
from __future__ import annotations

import pytest

_FUZZ_COUNTS: dict[str, int] = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "fuzz: property-based (hypothesis) tests of the readers and load_dataset")


@pytest.fixture(scope="session")
def fuzz_count():
    """``fuzz_count(test_name)``: count one input tried (printed in the terminal summary)."""
    def bump(name: str) -> None:
        _FUZZ_COUNTS[name] = _FUZZ_COUNTS.get(name, 0) + 1
    return bump


def pytest_terminal_summary(terminalreporter):
    if _FUZZ_COUNTS:
        total = sum(_FUZZ_COUNTS.values())
        terminalreporter.write_line(
            f"fuzz inputs tried: {total} (" + ", ".join(f"{k} {v}" for k, v in sorted(_FUZZ_COUNTS.items())) + ")")
