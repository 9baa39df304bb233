"""Request bodies in ``/openapi.json`` for handlers that read the raw body themselves.

Those handlers parse with ``parse_json(Model, await request.body())`` (one validation, and their
own error shape), so FastAPI sees no body parameter and would publish none: generated clients
would not know what to send. ``json_body`` declares it through ``openapi_extra``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def json_body(schema: type[BaseModel] | dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body of ``schema`` (a pydantic model or a JSON schema).

    The schema is made self-contained: a model's ``$defs`` are inlined where they are referenced,
    since a ``#/$defs/...`` reference inside an operation resolves against the document's root,
    where there is none (client generators stop at such a dangling reference)."""
    raw = schema.model_json_schema() if isinstance(schema, type) else schema
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": inline_defs(raw)}}}}


def inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every ``#/$defs/Name`` reference replaced by that definition; a recursive
    definition cannot be inlined and raises ``ValueError`` (when the route is declared)."""
    defs = schema.get("$defs", {})

    def resolve(node: Any, within: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [resolve(item, within) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in within:
                raise ValueError(f"schema {name} refers to itself: it cannot be inlined")
            rest = {key: value for key, value in node.items() if key != "$ref"}
            return {**resolve(defs[name], within | {name}), **resolve(rest, within)}
        return {key: resolve(value, within) for key, value in node.items() if key != "$defs"}

    return resolve(schema, frozenset())
