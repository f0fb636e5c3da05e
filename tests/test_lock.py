"""The committed lock is the tested set: it pins everything `.[test]` names, within pyproject.toml's
ranges, and CI and the README's set-up install from it (issue 23 §1)."""
from __future__ import annotations

import pathlib
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "test.lock.txt"


def _lock() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def test_the_lock_pins_every_requirement_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]
    pins = _lock()
    missing = [r.name for r in reqs if canonicalize_name(r.name) not in pins]
    assert not missing, f"not in the lock (run requirements/refresh.sh): {missing}"
    outside = [f"{r} locked at {pins[canonicalize_name(r.name)]}" for r in reqs
               if not r.specifier.contains(pins[canonicalize_name(r.name)].split("+")[0], prereleases=True)]
    assert not outside, outside
    assert len(pins) > len(reqs)  # transitive dependencies are pinned too


def test_ci_and_the_readme_install_from_the_lock():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "-c requirements/test.lock.txt" in ci and "CI_LATEST" in ci and "python -m venv" in ci
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -c requirements/test.lock.txt -e ".[test]"' in readme
    assert "python -m pytest" in ci and "python -m pytest" in readme
