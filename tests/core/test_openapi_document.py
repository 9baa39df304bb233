"""/openapi.json as served is whole: every $ref resolves, every operation that reads a body publishes it."""

from __future__ import annotations

import pytest

from edgelearn.server.bodies import inline_defs

# the two POSTs that read no body at all
NO_BODY = {"POST /v1/ping", "POST /v1/jobs/{job_id}/cancel"}


def _resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve (at {part!r})"
        node = node[part]
    return node


def _refs(node, path="#"):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield path, node["$ref"]
        for key, value in node.items():
            yield from _refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _refs(value, f"{path}/{i}")


def test_every_ref_in_openapi_json_resolves(server):
    doc = server.client.get("/openapi.json").json()
    refs = list(_refs(doc))
    assert refs, "no $ref at all: the walk is broken"
    for where, ref in refs:
        _resolve(doc, ref)  # raises naming the ref
    assert "$defs" not in str(doc["paths"]), "a nested $defs left in an operation"


def test_every_operation_that_reads_a_body_publishes_it(server):
    doc = server.client.get("/openapi.json").json()
    no_body = {f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m, op in ops.items()
               if m in ("post", "put", "patch") and "requestBody" not in op}
    assert no_body == NO_BODY

    def body(path):
        return doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]

    assert body("/v1/learning/promote")["required"] == ["model"]
    assert body("/v1/registry/{model_id}/state")["properties"]["state"]["pattern"].startswith("^(candidate")
    assert set(body("/v1/config/toggles")["required"]) == {"name", "value"}
    assert body("/v1/hooks/git")["required"] == ["repo"]
    chat = body("/v1/chat/completions")
    assert {"model", "messages"} <= set(chat["required"])
    assert chat["properties"]["messages"]["items"]["required"] == ["role"]  # ChatMessageIn, inlined
    runs = body("/v1/runs/batch")["properties"]["runs"]["items"]
    assert "output" in runs["required"] and "anyOf" in runs["properties"]["input"]  # RecordIn and Message, inlined


def test_inline_defs_refuses_a_recursive_schema():
    tree = {"$defs": {"Node": {"type": "object", "properties": {"kids": {"type": "array", "items": {
        "$ref": "#/$defs/Node"}}}}}, "$ref": "#/$defs/Node"}
    with pytest.raises(ValueError, match="Node refers to itself"):
        inline_defs(tree)
    flat = inline_defs({"$defs": {"A": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/A", "description": "d"}}})
    assert flat == {"properties": {"a": {"type": "string", "description": "d"}}}
