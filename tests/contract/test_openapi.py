"""The published OpenAPI document: valid OpenAPI 3.1, and the API does what it says.

schemathesis runs over the whole API: no 500, and every answer matches the document. Each operation gets a fixed number of positive (valid by the document) and negative (invalid)
examples, derandomised so a run is repeatable; shrinking is off so a failure costs no extra time.
schemathesis' own pytest runner (`from_fixture`) does not work with pytest 9.2, so this drives
its strategies with Hypothesis directly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from crm_testing.platform import Platform, start_platform

MESSAGE_CHARS = 3000
EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 4}
# The fuzzer measures answers, not the rate limiter.
NO_RATE_LIMITS = {f"CRM_RATE_LIMIT_{n}_{k}": "1000000" for n in ("TENANT", "KEY", "ANONYMOUS") for k in ("RATE", "BURST")}


@pytest.fixture(scope="module")
def fuzz_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = start_platform(Path(tmp_path_factory.mktemp("fuzz")), **NO_RATE_LIMITS)
    platform.start_workers()
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def document(fuzz_platform: Platform) -> dict[str, Any]:
    resp = fuzz_platform.request("GET", "/v1/openapi.json")
    assert resp.status == 200
    return resp.json()


def _schemas(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every Schema Object in the document (components and inline ones), with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, dict):
                yield f"{where}/schema", value
            elif key == "schemas" and where.endswith("/components"):
                yield from ((f"{where}/schemas/{name}", schema) for name, schema in value.items())
                continue
            yield from _schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _schemas(value, f"{where}/{i}")


def test_document_is_valid_openapi_31(document: dict[str, Any]) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []
    schemas = list(_schemas(document))
    assert len(schemas) > 100  # every operation's bodies and the components were seen
    invalid = [f"{where}: {e.message}" for where, schema in schemas
               for e in Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(schema)]
    assert invalid == []


def test_money_is_a_decimal_string(document: dict[str, Any]) -> None:
    amount = document["components"]["schemas"]["Money"]["properties"]["amount"]
    assert amount == {"type": "string", "pattern": r"^-?\d{1,15}(\.\d{1,2})?$"}


def _failures(exc: BaseException) -> dict[str, str]:
    """One entry per distinct problem: a response field that breaks the schema, a 500, ..."""
    out: dict[str, str] = {}
    for failure in getattr(exc, "exceptions", None) or [exc]:
        path = getattr(failure, "instance_path", None)
        title = getattr(failure, "title", type(failure).__name__)
        if path is not None:
            where = "/" + "/".join(str(p) for p in path if not isinstance(p, int))
            key = f"{title} at {where}: {getattr(failure, '_raw_message', '')}"
        else:
            key = f"{title}: {str(failure).splitlines()[0][:200]}"
        out.setdefault(key, str(failure)[:MESSAGE_CHARS])
    return out


def run_operation(operation: schemathesis.APIOperation, mode: GenerationMode, base_url: str, token: str,
                  session: requests.Session) -> dict[str, str]:
    name = f"{operation.method.upper()} {operation.path} ({mode.value})"
    try:
        strategy = operation.as_strategy(generation_mode=mode)
    except Exception as exc:  # noqa: BLE001 - a part of the document the fuzzer cannot use is a defect too
        return {f"{name}: cannot generate": str(exc)[:MESSAGE_CHARS]}
    failures: dict[str, str] = {}

    @given(case=strategy)
    @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        try:
            case.call_and_validate(base_url=base_url, session=session, headers={"Authorization": f"Bearer {token}"},
                                   checks=[not_a_server_error, response_schema_conformance], timeout=30)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
            for key, detail in _failures(exc).items():
                failures.setdefault(f"{name}: {key}", detail)

    check()
    return failures


def test_whole_api_fuzzed(fuzz_platform: Platform, document: dict[str, Any]) -> None:
    token = fuzz_platform.signup("Fuzz")["access_token"]
    schema = schemathesis.openapi.from_dict(document)
    started, failures, operations = time.monotonic(), {}, 0
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            for mode in EXAMPLES:
                failures.update(run_operation(operation, mode, fuzz_platform.gateway_url, token, session))
    print(f"fuzzed {operations} operations in {time.monotonic() - started:.1f}s; {len(failures)} distinct failures:")
    for key in failures:
        print("  " + key)
    assert not failures, "\n\n".join(f"{key}\n{detail}" for key, detail in failures.items())
