"""The HTTP API's reference (docs/api.md), made as Markdown from the app's own OpenAPI
document, with who may call each route from the roles each route declares.

``python -m affectlens.api_reference > docs/api.md`` writes it again; tests/test_docs.py fails
when the file is stale. Markdown rather than an OpenAPI viewer: the page builds and reads
offline, needs no script (the dashboard's content security policy allows none inline), and
reads in the repository as well as on the site.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from starlette.routing import WebSocketRoute

from affectlens.security.access import OPEN_PATHS, PAGES, roles_of
from affectlens.security.guard import flat_routes
from affectlens.service.api import create_app
from affectlens.store import Store

METHODS = ("get", "post", "put", "patch", "delete")
Rules = dict[tuple[str, str], frozenset[str]]


def _app(store: Store) -> FastAPI:
    """The app as ``affectlens serve`` builds it, ``/metrics`` included."""
    return create_app(store, metrics=lambda: b"")


def _rules(app: FastAPI) -> Rules:
    """(method, path) to the roles each of the app's routes declares; ``WS`` for a
    websocket, ``GET`` for a mount."""
    rules: Rules = {}
    for route in flat_routes(app.routes):
        roles = roles_of(route)
        if roles is None:
            continue
        if isinstance(getattr(route, "original_route", route), WebSocketRoute):
            methods = {"WS"}
        else:
            methods = (getattr(route, "methods", None) or {"GET"}) - {"HEAD"}
        rules |= {(method, route.path): roles for method in methods}
    return rules


def openapi() -> dict[str, Any]:
    """The document ``/openapi.json`` serves. No database is opened: building the app and its
    schema reads none, so an in-memory SQLite URL that is never migrated is enough."""
    return _document()[0]


def _document() -> tuple[dict[str, Any], Rules]:
    store = Store("sqlite://", migrate_first=False)
    try:
        app = _app(store)
        return app.openapi(), _rules(app)
    finally:
        store.engine.dispose()


def _text(value: str) -> str:
    """Docstring text as Markdown: ``code`` as `code`, no HTML, no table breaks."""
    value = re.sub(r"``([^`]+)``", r"`\1`", value.strip())
    value = value.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return " ".join(value.split())


def _anchor(name: str) -> str:
    """The heading anchor of a schema, as mkdocs and GitHub both make it."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower())


def _type(node: dict[str, Any]) -> str:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
    if "anyOf" in node:
        return " or ".join(_type(member) for member in node["anyOf"])
    if "enum" in node:
        return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    kind = node.get("type", "any")
    if kind == "array":
        return "list of " + _type(node.get("items", {}))
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return "mapping to " + _type(node["additionalProperties"])
    return f"{kind} ({node['format']})" if "format" in node else kind


def _limits(node: dict[str, Any]) -> str:
    """The range a value is checked against, from it and each member of an ``anyOf``."""
    parts: list[str] = []
    for member in [node, *node.get("anyOf", [])]:
        for key, text in (("minimum", "≥ {}"), ("exclusiveMinimum", "> {}"),
                          ("maximum", "≤ {}"), ("exclusiveMaximum", "< {}"),
                          ("minLength", "at least {} characters"),
                          ("maxLength", "at most {} characters"),
                          ("minItems", "at least {} items"), ("maxItems", "at most {} items"),
                          ("pattern", "matches `{}`")):
            if key in member:
                value = member[key]
                value = f"{value:g}" if isinstance(value, float) else value
                parts.append(text.format(value))
    return ", ".join(parts).replace("|", "\\|")


def _default(node: dict[str, Any]) -> str:
    if "default" not in node:
        return ""
    value = node["default"]
    shown = {True: "true", False: "false", None: "null"}.get(value, value) \
        if isinstance(value, bool | None) else value
    return f"`{shown}`"


def _who(rules: Rules, method: str, path: str) -> str:
    if path in OPEN_PATHS:
        return "anyone, without a login"
    roles = rules.get((method.upper(), path))
    return ", ".join(sorted(roles)) if roles else "nobody (the route declares no roles)"


def _section(path: str) -> str:
    """Routes are grouped by the segment after /api/ (cameras, events, users...)."""
    parts = path.strip("/").split("/")
    return parts[1] if parts[0] == "api" and len(parts) > 1 else parts[0]


def _operation(rules: Rules, path: str, method: str, op: dict[str, Any]) -> Iterator[str]:
    yield f"### {method.upper()} `{path}`\n"
    yield " ".join(part for part in (op.get("summary", "") + ".",
                                     _text(op.get("description", ""))) if part) + "\n"
    yield f"Who may call it: {_who(rules, method, path)}.\n"
    if op.get("parameters"):
        yield "| parameter | in | type | required | default | range | meaning |"
        yield "|---|---|---|---|---|---|---|"
        for param in op["parameters"]:
            schema = param.get("schema", {})
            yield (f"| `{param['name']}` | {param['in']} | {_type(schema)} | "
                   f"{'yes' if param.get('required') else 'no'} | {_default(schema)} | "
                   f"{_limits(schema)} | {_text(param.get('description', ''))} |")
        yield ""
    body = op.get("requestBody")
    if body:
        for media, content in body.get("content", {}).items():
            schema = content.get("schema", {})
            yield f"Body ({media}): {_type(schema) if schema else 'any'}.\n"
    yield "| status | meaning | content |"
    yield "|---|---|---|"
    for status, response in op.get("responses", {}).items():
        content = response.get("content") or {}
        shown = "; ".join(f"{media}" + (f": {_type(c['schema'])}" if c.get("schema") else "")
                          for media, c in content.items())
        yield f"| {status} | {_text(response.get('description', ''))} | {shown} |"
    yield ""


def _schema(name: str, node: dict[str, Any]) -> Iterator[str]:
    yield f"### {name}\n"
    if node.get("description"):
        yield _text(node["description"]) + "\n"
    properties = node.get("properties", {})
    if not properties:
        yield f"{_type(node)}.\n"
        return
    required = set(node.get("required", []))
    yield "| field | type | required | default | range | meaning |"
    yield "|---|---|---|---|---|---|"
    for field, schema in properties.items():
        yield (f"| `{field}` | {_type(schema)} | {'yes' if field in required else 'no'} | "
               f"{_default(schema)} | {_limits(schema)} | "
               f"{_text(schema.get('description', ''))} |")
    if node.get("additionalProperties") is False:
        yield "\nOther fields are refused (422)."
    yield ""


def markdown() -> str:
    doc, rules = _document()
    out = [
        "# HTTP API reference\n",
        "The HTTP API that `affectlens serve` answers, made from the OpenAPI document it serves",
        "at `/openapi.json` (with a login) by `python -m affectlens.api_reference > "
        "docs/api.md`;",
        "a test fails when this page and the app differ. Callers log in with a dashboard",
        "session (`POST /api/auth/login`, cookies) or an API token (`Authorization: Bearer`,",
        "`affectlens token add`); [accounts and security](security.md) says what each role "
        "may do.",
        "A route refuses a caller without a login with 401, and a role it does not allow with",
        "403. Times are ISO 8601 with a time zone.\n",
        _text(doc["info"].get("description", "")) + "\n",
    ]
    served = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    others = sorted(key for key in rules if key not in served)
    if others:
        out.append("Also served, outside the OpenAPI document:\n")
        out += [f"- {method} `{path}`" + (" (a page: without a login it sends you to "
                                          "`/login`)" if path in PAGES else "")
                + f": {_who(rules, method, path)}" for method, path in others]
        out.append("")
    sections: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, ops in doc["paths"].items():
        for method in METHODS:
            if method in ops:
                sections.setdefault(_section(path), []).append((path, method, ops[method]))
    for section, operations in sections.items():
        out.append(f"## {section}\n")
        for path, method, op in operations:
            out += _operation(rules, path, method, op)
    out.append("## Schemas\n")
    for name, node in doc.get("components", {}).get("schemas", {}).items():
        out += _schema(name, node)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
