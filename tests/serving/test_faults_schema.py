"""The HTTP service against its own OpenAPI schema (schemathesis, in-process over ASGI).

Schemathesis generates requests from ``/openapi.json`` (valid ones and, for the body and query,
invalid ones) and checks every response: no 5xx, status codes the schema documents, bodies and
content types that conform to the schema. Both engines: graph (histories up to 1000 items) and
sequential (at most ``max_len``). A real Engine over a stub run (no training).
"""
from __future__ import annotations

import collections
import warnings

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import positive_data_acceptance  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from contrastrec.serving.app import create_app  # noqa: E402

EXAMPLES = 25  # per operation, per generation mode, per engine
ALLOWED_422 = ("unknown item", "give a user or a non-empty history")


def _check(case) -> int:
    # What the schema cannot state: item ids the run knows, and "a user or a non-empty history".
    # For POST, a schema-valid body may get 422 for those two reasons only (checked below).
    post = case.method == "POST"
    response = case.call_and_validate(excluded_checks=[positive_data_acceptance] if post else None)
    assert response.status_code < 500
    if post and case.meta.generation.mode.is_positive and response.status_code == 422:
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail.startswith(ALLOWED_422), detail
    return response.status_code


# The cases are drawn with hypothesis from each operation's strategy, not through schemathesis'
# pytest plugin (`schemathesis.pytest.from_fixture`), whose collection hook breaks under pytest 9.2
# ("'Function' object has no attribute '_nodeid'"): this test depends on no pytest internals.
@pytest.mark.fuzz
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("kind", ["graph", "sequential"])
def test_conforms_to_its_openapi_schema(kind, stub_engine, stub_seq_engine):
    engine = stub_engine if kind == "graph" else stub_seq_engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(engine))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} >= {("GET", "/recommend"), ("POST", "/recommend")}
    cases: collections.Counter = collections.Counter()
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                      database=None, derandomize=True)
            @given(case=op.as_strategy(generation_mode=mode))
            def run(case):
                cases[(case.method, case.path, mode.value, _check(case))] += 1

            try:
                run()
            except Unsatisfiable:  # an operation with nothing to invalidate (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, op.label
    print(f"\nschema cases ({kind}):", sum(cases.values()), dict(sorted(cases.items())))
    # every operation was exercised, and valid requests were answered (not all refused)
    assert {(m, p) for (m, p, _, _) in cases} == {(op.method.upper(), op.path) for op in operations}
    assert any(status == 200 for (_, _, mode, status) in cases if mode == "positive")
    assert {(m, p) for (m, p, mode, _) in cases if mode == "negative"} >= {("GET", "/recommend"), ("POST", "/recommend")}
