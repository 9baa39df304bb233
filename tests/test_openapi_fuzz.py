"""Schemathesis over the real server's own ``/openapi.json``: every operation, no 5xx.

A real edgelearn server on loopback (temp home, no embedder, the FakeBackend as the local model),
the bearer token sent with every case. Each operation gets positive and negative cases from a fixed
seed (no example database, no shrinking), a few per operation, under a total time box, so the run is
the same each time and bounded. The document is loaded as served (its $refs resolve as they are:
tests/core/test_openapi_document.py), with one test-side edit: narrower message schemas for the
Messages and Responses wires so generated bodies get past the role checks into the parsers.

Every operation that reads a body publishes it (handlers that parse the raw body declare it with
``server.bodies.json_body``), so schemathesis fuzzes those bodies too; ``NO_BODY`` lists the two
POSTs that read none, and the test fails if that list goes stale.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from elsupport import start_server

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402

MAX_EXAMPLES = 40  # per operation and generation mode (positive, negative)
TIME_BOX_S = 300
SEED = 17
NO_BODY = {"POST /v1/ping", "POST /v1/jobs/{job_id}/cancel"}
MUST_COVER = {
    "POST /v1/messages", "POST /v1/messages/count_tokens", "POST /v1/responses", "POST /v1/completions",
    "POST /v1/chat/completions", "GET /v1/sessions", "GET /v1/sessions/{session_id}",
    "POST /v1/sessions/{session_id}/signals", "POST /v1/sessions/{session_id}/feedback",
    "GET /v1/sessions/review", "GET /v1/sessions/patterns", "POST /v1/hooks/git", "POST /v1/hooks/{agent}",
}


WIRE = {"POST /v1/messages", "POST /v1/messages/count_tokens", "POST /v1/responses", "POST /v1/completions"}
# The wires publish loose item schemas ({"type": "object"}), so generated messages rarely get past the
# role check. These narrower ones (a subset of what the handlers accept or refuse) reach the parsers.
_BLOCK = {"type": "object", "required": ["type"], "properties": {
    "type": {"enum": ["text", "tool_use", "tool_result", "image", "document", "thinking", "redacted_thinking"]},
    "text": {"type": "string"}, "id": {"type": "string"}, "tool_use_id": {"type": "string"},
    "name": {"type": "string"}, "input": {"type": "object"}, "content": {}, "is_error": {"type": "boolean"}}}
_TOOLS = {"type": "array", "maxItems": 2, "items": {"type": "object", "required": ["name"], "properties": {
    "type": {"enum": ["function", "custom"]}, "name": {"type": "string"}, "description": {"type": "string"},
    "input_schema": {"type": "object"}, "parameters": {"type": "object"}}}}
_MESSAGES = {
    "messages": {"type": "array", "minItems": 1, "maxItems": 4, "items": {
        "type": "object", "required": ["role", "content"], "properties": {
            "role": {"enum": ["user", "assistant"]},
            "content": {"anyOf": [{"type": "string"}, {"type": "array", "maxItems": 3, "items": _BLOCK}]}}}},
    "max_tokens": {"type": "integer", "minimum": 1, "maximum": 64},
    "system": {"anyOf": [{"type": "string"}, {"type": "array", "maxItems": 2, "items": _BLOCK}]},
    "tools": _TOOLS, "tool_choice": {"type": "object"}, "stream": {"type": "boolean"},
    "stop_sequences": {"type": "array", "items": {"type": "string"}}}
_RESPONSES = {
    "input": {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1, "maxItems": 4, "items": {
        "type": "object", "required": ["type"], "properties": {
            "type": {"enum": ["message", "function_call", "function_call_output", "reasoning"]},
            "role": {"enum": ["user", "assistant", "system", "developer"]},
            "content": {"anyOf": [{"type": "string"}, {"type": "array", "maxItems": 2, "items": {
                "type": "object", "required": ["type"], "properties": {
                    "type": {"enum": ["input_text", "output_text"]}, "text": {"type": "string"}}}}]},
            "call_id": {"type": "string"}, "name": {"type": "string"}, "arguments": {"type": "string"},
            "output": {"type": "string"}}}}]},
    "max_output_tokens": {"type": "integer", "minimum": 1, "maximum": 64}, "tools": _TOOLS,
    "tool_choice": {}, "stream": {"type": "boolean"}}
NARROW = {"/v1/messages": _MESSAGES, "/v1/messages/count_tokens": _MESSAGES, "/v1/responses": _RESPONSES}


def _narrow(raw: dict) -> dict:
    for path, properties in NARROW.items():
        schema = raw["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        schema["properties"].update(properties)
    return raw


def _local_model(case):
    """Half the wire bodies name the local model, so fuzzed messages reach the engine, not only the
    model-name check (any other generated name is refused before the messages are read)."""
    if isinstance(case.body, dict) and "model" in case.body and len(str(case.body["model"])) % 2 == 0:
        case.body["model"] = "base"
    return case


@pytest.fixture
def live(home):
    from edgelearn.runtime import Runtime
    from edgelearn.serve.backends import FakeBackend

    rt = Runtime(home=home, embed=False)
    server, stop = start_server(rt)
    rt.services["serving"].engine.use_backend(FakeBackend())
    try:
        yield server
    finally:
        stop()
        rt.stop()


def _fuzz(operation, mode, base_url: str, headers: dict) -> tuple[Counter, list[str]]:
    """Run one operation's cases in one generation mode; returns (status codes seen, 5xx failures as text)."""
    codes, failures = Counter(), []

    strategy = operation.as_strategy(mode)
    if operation.label in WIRE:
        strategy = strategy.map(_local_model)

    @seed(SEED)
    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def cases(case):
        try:
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=[not_a_server_error],
                                              timeout=30)
            codes[response.status_code] += 1
        except (AssertionError, FailureGroup) as failure:
            codes["5xx"] += 1
            failures.append(f"{operation.label} ({mode.value}): {failure}")

    try:
        cases()
    except Unsatisfiable:  # nothing to negate (no parameters, no body): the positive cases cover it
        assert mode is GenerationMode.NEGATIVE, operation.label
    return codes, failures


def test_every_operation_answers_without_5xx(live):
    raw = live.client.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(_narrow(raw))
    headers = {"Authorization": f"Bearer {live.token}"}
    labels = {f"{method.upper()} {path}" for path, ops in raw["paths"].items() for method in ops}
    assert MUST_COVER <= labels, f"missing from /openapi.json: {sorted(MUST_COVER - labels)}"
    no_body = {f"{m.upper()} {p}" for p, ops in raw["paths"].items() for m, op in ops.items()
               if m in ("post", "put", "patch") and "requestBody" not in op}
    assert no_body == NO_BODY, "NO_BODY is stale: the POSTs that publish no request body changed"

    stop_at = time.monotonic() + TIME_BOX_S
    covered, seen, failures = set(), {}, []
    for result in schema.get_all_operations():
        operation = result.ok()
        assert time.monotonic() < stop_at, f"time box of {TIME_BOX_S}s spent; left: {sorted(labels - covered)}"
        codes = Counter()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            found_codes, found = _fuzz(operation, mode, live.url, headers)
            codes += found_codes
            failures += found
        assert codes, f"{operation.label}: no case generated"
        covered.add(operation.label)
        seen[operation.label] = codes
    total = sum(sum(c.values()) for c in seen.values())
    print(f"fuzzed {len(covered)} operations with {total} cases")
    for label in sorted(seen):
        print(f"  {label}: {dict(sorted(seen[label].items(), key=str))}")
    assert covered == labels, f"not fuzzed: {sorted(labels - covered)}"
    assert not failures, f"{len(failures)} server errors over {total} cases:\n" + "\n\n".join(failures)
