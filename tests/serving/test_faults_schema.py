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
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import positive_data_acceptance  # noqa: E402

from contrastrec.serving.app import create_app  # noqa: E402

EXAMPLES = 25  # per operation, per engine
ALLOWED_422 = ("unknown item", "give a user or a non-empty history")
CASES: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", params=["graph", "sequential"])
def api_schema(request, stub_engine, stub_seq_engine):
    engine = stub_engine if request.param == "graph" else stub_seq_engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return schemathesis.openapi.from_asgi("/openapi.json", create_app(engine))


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.fuzz
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_conforms_to_its_openapi_schema(case):
    # What the schema cannot state: item ids the run knows, and "a user or a non-empty history".
    # For POST, a schema-valid body may get 422 for those two reasons only (checked below).
    post = case.method == "POST"
    response = case.call_and_validate(excluded_checks=[positive_data_acceptance] if post else None)
    assert response.status_code < 500
    if post and case.meta.generation.mode.is_positive and response.status_code == 422:
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail.startswith(ALLOWED_422), detail
    CASES[(case.method, case.path, response.status_code)] += 1


def test_cases_were_run():
    print("\nschema cases:", sum(CASES.values()), dict(sorted(CASES.items())))
    if CASES:  # empty when the fuzz test was deselected (-m "not fuzz")
        assert {s for (_, _, s) in CASES} & {200}
