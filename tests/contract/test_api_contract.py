"""The published API: a valid OpenAPI 3.1 document, an API that does what it says, and bad input
answered 4xx end to end (through the gateway, on SQLite and on PostgreSQL).

schemathesis runs over the whole API: no 500, and every answer matches the document. Each
operation gets a fixed number of positive (valid by the document) and negative (invalid) examples,
then positive ones again against real records; derandomised so a run is repeatable, shrinking off
so a failure costs no extra time. schemathesis' own pytest runner (`from_fixture`) does not work
with pytest 9.2 (it sets `Function._nodeid`), so this drives its strategies with Hypothesis directly.
Nothing is excluded: no operation can revoke the fuzzer's own access token (checked at the end).
"""

from __future__ import annotations

import re
import time
from collections import Counter
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

# schemathesis' own strategies draw from `random`; Hypothesis warns about it on every run.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
MESSAGE_CHARS = 3000
STATUSES: Counter[int] = Counter()  # answers that passed the checks, by status
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 3}
# Each of these hashes a password (argon2, deliberately slow): fewer examples.
EXPENSIVE = {"/v1/signup": 2, "/v1/auth/token": 2, "/v1/users": 3, "/v1/auth/invitations/accept": 2}
# The fuzzer measures answers, not the rate limiter.
LIMITS = ("TENANT", "KEY", "ANONYMOUS", "BAD_CREDENTIALS", "OPEN", "VERIFY_RESEND")
NO_RATE_LIMITS = {**{f"CRM_RATE_LIMIT_{n}_{k}": "1000000" for n in LIMITS for k in ("RATE", "BURST")},
                  "CRM_LOGIN_FAILURES_MAX": "1000000"}


@pytest.fixture(scope="module")
def fuzz_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = start_platform(Path(tmp_path_factory.mktemp("fuzz")), **NO_RATE_LIMITS)
    platform.start_workers()
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def fuzz_pg_platform(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, kafka_bootstrap: str,
                     redis_url: str) -> Iterator[Platform]:
    """PostgreSQL (where NUL and out-of-range values fail), Kafka and Redis; no workers: the
    fuzzer checks answers, not the event flow."""
    platform = start_platform(Path(tmp_path_factory.mktemp("fuzz-pg")), pg_admin_url=pg_admin_url,
                              kafka_bootstrap=kafka_bootstrap, redis_url=redis_url, **NO_RATE_LIMITS)
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


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [op.get("operationId") for ops in document["paths"].values() for op in ops.values()]
    assert None not in ids and len(ids) == len(set(ids))


def test_no_two_fragments_define_one_component_name_two_ways(document: dict[str, Any]) -> None:
    """Also the gateway's own fragment (its Login once lost to the portal's, without a password)."""
    assert "x-component-conflicts" not in document["info"]
    assert {"email", "password", "tenant_id"} <= set(document["components"]["schemas"]["Login"]["properties"])


def test_services_never_define_one_component_name_two_ways(fuzz_platform: Platform) -> None:
    """The gateway merges components by name: two services with different schemas under one
    name would leave one of them documented wrongly."""
    seen: dict[str, tuple[str, Any]] = {}
    for name, handle in fuzz_platform.services.items():
        if name == "gateway":
            continue
        fragment = fuzz_platform.http.request("GET", handle.url + "/openapi.json").json()
        for component, schema in fragment.get("components", {}).get("schemas", {}).items():
            first = seen.setdefault(component, (name, schema))
            assert first[1] == schema, f"{component} differs between {first[0]} and {name}"


def test_every_documented_path_is_routed_to_the_service_that_serves_it(fuzz_platform: Platform) -> None:
    """A service route the catalog does not list is documented but answers 404 through the gateway."""
    from crm_runtime.catalog import DOMAIN_SERVICES
    from gateway.proxy import Route, Router

    router = Router([Route(p, info.name, f"http://127.0.0.1:{info.web_port}", info.name, open=o)
                     for info in DOMAIN_SERVICES
                     for p, o in [*((p, False) for p in info.prefixes), *((p, True) for p in info.open_prefixes)]])
    misrouted = []
    for name, handle in fuzz_platform.services.items():
        if name == "gateway":
            continue
        fragment = fuzz_platform.http.request("GET", handle.url + "/openapi.json").json()
        for path in fragment.get("paths", {}):
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            route = router.match(concrete)
            if route is None or route.service != name:
                misrouted.append(f"{path} ({name}) -> {route.service if route else 'nothing'}")
    assert misrouted == []


def test_money_is_a_decimal_string(document: dict[str, Any]) -> None:
    amount = document["components"]["schemas"]["Money"]["properties"]["amount"]
    assert amount == {"type": "string", "pattern": r"^-?\d{1,16}(\.\d{1,2})?$"}  # up to 1e15 inclusive


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
                  session: requests.Session, path_parameters: dict[str, str] | None = None) -> dict[str, str]:
    name = f"{operation.method.upper()} {operation.path} ({mode.value}{', real ids' if path_parameters else ''})"
    examples = EXPENSIVE.get(operation.path, EXAMPLES[mode])
    try:
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
    except Exception as exc:  # noqa: BLE001 - a part of the document the fuzzer cannot use is a defect too
        return {f"{name}: cannot generate": str(exc)[:MESSAGE_CHARS]}
    failures: dict[str, str] = {}

    @given(case=strategy)
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        try:
            response = case.call_and_validate(base_url=base_url, session=session,
                                              headers={"Authorization": f"Bearer {token}"},
                                              checks=[not_a_server_error, response_schema_conformance], timeout=30)
            STATUSES[response.status_code] += 1
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
            for key, detail in _failures(exc).items():
                failures.setdefault(f"{name}: {key}", detail)

    try:
        check()
    except Exception as exc:  # noqa: BLE001 - raised while drawing: the document says something the fuzzer cannot use
        failures[f"{name}: cannot generate"] = str(exc)[:MESSAGE_CHARS]
    return failures


def seed(platform: Platform, token: str) -> dict[str, str]:
    """One real record of each kind, so operations on `{record_id}` reach their handlers with
    fuzzed bodies and queries instead of stopping at 404: path parameter name (or collection
    path) -> id."""
    def create(path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = platform.request("POST", path, body, token=token)
        assert resp.status in (201, 202), (path, resp.data[:500])
        return resp.json()

    contact = create("/v1/contacts", {"first_name": "Ada", "email": "ada@fuzz.example", "properties": {}})
    company = create("/v1/companies", {"name": "Fuzz Ltd"})
    pipeline = create("/v1/pipelines", {"name": "Fuzz", "stages": [{"name": "Lead", "probability": 10}]})
    deal = create("/v1/deals", {"name": "Deal", "pipeline_id": pipeline["id"], "amount": {"amount": "12.50", "currency": "EUR"}})
    webhook = create("/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "event_types": ["crm.contact.created"]})
    create("/v1/properties/contacts", {"key": "fuzz_score", "label": "Score", "type": "number"})
    ids = {
        "/v1/contacts": contact["id"], "/v1/companies": company["id"], "/v1/pipelines": pipeline["id"],
        "/v1/deals": deal["id"], "/v1/webhooks": webhook["id"],
        "/v1/tasks": create("/v1/tasks", {"title": "Call", "deal_id": deal["id"]})["id"],
        "/v1/tickets": create("/v1/tickets", {"subject": "Help"})["id"],
        "/v1/campaigns": create("/v1/campaigns", {"name": "Spring"})["id"],
        "/v1/scoring-rules": create("/v1/scoring-rules", {"name": "r", "filter": "email is not null", "points": 5})["id"],
        "/v1/exports": create("/v1/exports", {"object": "contacts"})["id"],
        "/v1/api-keys": create("/v1/api-keys", {"name": "spare", "scopes": ["contacts:read"]})["id"],
        "/v1/contacts/activities": create(f"/v1/contacts/{contact['id']}/activities", {"type": "note", "body": "hi"})["id"],
        "/v1/companies/activities": create(f"/v1/companies/{company['id']}/activities", {"type": "note", "body": "hi"})["id"],
        "key": "fuzz_score",
    }
    return ids


def known_parameters(path: str, ids: dict[str, str]) -> dict[str, str] | None:
    """Real values for the path parameters of `path`, or None when some are not known."""
    collection = "/".join(path.split("/")[:3])  # /v1/contacts
    values: dict[str, str] = {}
    for name in (part[1:-1] for part in path.split("/") if part.startswith("{")):
        if name in ("record_id", "parent_id", "deal_id", "key_id", "job_id"):
            value = ids.get({"deal_id": "/v1/deals", "key_id": "/v1/api-keys", "job_id": "/v1/exports"}.get(name, collection))
        elif name == "activity_id":
            value = ids.get(f"{collection}/activities")
        else:
            value = ids.get(name)
        if value is None:
            return None
        values[name] = value
    return values


def fuzz(platform: Platform) -> None:
    token = platform.signup("Fuzz")["access_token"]
    ids = seed(platform, token)
    schema = schemathesis.openapi.from_dict(platform.request("GET", "/v1/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    # Destructive calls on the real records go last, so the others still find them.
    operations.sort(key=lambda op: op.method.upper() == "DELETE" or op.path.endswith(("/erase", "/merge", "/unmerge")))
    started, failures, timings = time.monotonic(), {}, {}
    STATUSES.clear()
    with requests.Session() as session:
        for operation in operations:
            t0 = time.monotonic()
            for mode in EXAMPLES:
                failures.update(run_operation(operation, mode, platform.gateway_url, token, session))
            if "{" in operation.path and (known := known_parameters(operation.path, ids)) is not None:
                failures.update(run_operation(operation, GenerationMode.POSITIVE, platform.gateway_url, token, session,
                                              path_parameters=known))
            timings[f"{operation.method.upper()} {operation.path}"] = time.monotonic() - t0
    print(f"fuzzed {len(operations)} operations in {time.monotonic() - started:.1f}s; {len(failures)} distinct failures:")
    for key in failures:
        print("  " + key)
    for key, t in sorted(timings.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {t:6.2f}s {key}")
    print(f"  answers by status: {dict(sorted(STATUSES.items()))}")
    assert len(operations) > 90  # the whole API, every service
    # Limits are lifted: a 429 means a new limit the fuzzer does not lift, and tests nothing.
    assert STATUSES[429] == 0 and sum(STATUSES.values()) > 1000
    # Nothing the fuzzer called may have revoked its own credential: every answer after that would
    # be a 401 that passes every check and tests nothing.
    assert platform.request("GET", "/v1/me", token=token).status == 200
    assert not failures, "\n\n".join(f"{key}\n{detail}" for key, detail in failures.items())


# The longest tests of the suite (about 2 minutes alone); beside the other xdist worker on 2 cores
# they have taken over 7. The global 300 s would interrupt a request mid-example, which Hypothesis
# then reports as an inconsistent failure.
FUZZ_TIMEOUT = pytest.mark.timeout(1200)


@FUZZ_TIMEOUT
def test_whole_api_fuzzed(fuzz_platform: Platform) -> None:
    fuzz(fuzz_platform)


@FUZZ_TIMEOUT
@pytest.mark.integration
def test_whole_api_fuzzed_on_postgresql(fuzz_pg_platform: Platform) -> None:
    fuzz(fuzz_pg_platform)


def _raw(platform: Platform, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    return platform.http.request(method, platform.gateway_url + path, body=body, headers=headers, retries=False)


def test_upload_with_field_names_that_are_not_utf8_is_400_through_the_gateway(fuzz_platform: Platform) -> None:
    """The fuzzer's first finding: a multipart part header that is not UTF-8."""
    token = fuzz_platform.signup("Upload")["access_token"]
    body = (b'--XX\r\nContent-Disposition: form-data; name="\xff\xfe"\r\n\r\nv\r\n'
            b'--XX\r\nContent-Disposition: form-data; name="object"\r\n\r\ncontacts\r\n'
            b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nemail\r\na@b.com\r\n--XX--\r\n')
    for extra in ({}, {"Idempotency-Key": "upload-1"}):
        resp = _raw(fuzz_platform, "POST", "/v1/imports", body, {"Authorization": f"Bearer {token}",
                                                                 "Content-Type": "multipart/form-data; boundary=XX", **extra})
        assert resp.status == 400, resp.data
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert "UTF-8" in resp.json()["errors"]["_body"][0]


@pytest.mark.integration
def test_nul_and_surrogates_are_4xx_through_the_gateway_on_postgresql(fuzz_pg_platform: Platform) -> None:
    p = fuzz_pg_platform
    json_headers = {"Content-Type": "application/json"}
    signup = _raw(p, "POST", "/v1/signup", b'{"company": "A\\u0000", "email": "n@a.example", "password": "long enough pw"}',
                  json_headers)
    assert signup.status == 422 and list(signup.json()["errors"]) == ["company"]
    login = _raw(p, "POST", "/v1/auth/token", b'{"email": "\\ud800@a.example", "password": "x"}', json_headers)
    assert login.status == 422 and list(login.json()["errors"]) == ["email"]
    bogus_key = p.request("GET", "/v1/contacts", headers={"Authorization": "Bearer crm_\x00"})
    assert bogus_key.status == 400 and list(bogus_key.json()["errors"]) == ["Authorization"]
    token = p.signup("Nul")["access_token"]
    assert p.request("GET", "/v1/contacts?q=%00", token=token).status == 400
    created = _raw(p, "POST", "/v1/contacts", b'{"email": "c@a.example", "first_name": "\\u0000"}',
                   {**json_headers, "Authorization": f"Bearer {token}"})
    assert created.status == 422 and list(created.json()["errors"]) == ["first_name"]
