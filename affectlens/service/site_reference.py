"""The site config's reference (docs/site-config.md), made from the pydantic models so that
every setting's default and range are documented as the code checks them.

``python -m affectlens.service.site_reference > docs/site-config.md`` writes it again;
tests/test_site.py fails when the file is stale or a setting has no finite range.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from affectlens.service.site import OFFLINE_ONLY, SiteConfig


@dataclass(frozen=True)
class Setting:
    path: str  # cameras[].analysis_fps
    kind: str  # number, integer, string, boolean, list, ...
    default: str
    range: str  # "" when the schema gives none
    description: str
    bounded: bool  # the checked range is finite (see _bounded)


def settings() -> list[Setting]:
    """Every setting of the site config, depth first, in the models' field order."""
    return model_settings(SiteConfig)


def model_settings(model: type[BaseModel]) -> list[Setting]:
    """Every setting of a pydantic settings model, depth first, in its field order (the
    analysis settings' reference, config_reference.py, documents AnalysisConfig so)."""
    schema = model.model_json_schema()
    return list(_walk(schema, schema.get("$defs", {}), ""))


def settings_table(found: list[Setting]) -> str:
    """The Markdown table both references print: path, type, default, range, meaning."""
    rows = ["| setting | type | default | range | meaning |", "|---|---|---|---|---|"]
    for s in found:
        cells = [f"`{s.path}`", s.kind, f"`{s.default}`" if s.default else "",
                 s.range, s.description]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The schema behind a $ref or an ``X | None``, and whether None is allowed."""
    nullable = False
    if "anyOf" in node:
        members = [m for m in node["anyOf"] if m.get("type") != "null"]
        nullable = len(members) < len(node["anyOf"])
        if len(members) == 1:
            node = {**members[0], **{k: v for k, v in node.items() if k != "anyOf"}}
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node, nullable


def _walk(model: dict[str, Any], defs: dict[str, Any], prefix: str):
    for name, raw in model.get("properties", {}).items():
        if prefix == "analysis." and name in OFFLINE_ONLY:
            continue  # refused in a site config (site.py): not a setting of it
        path = f"{prefix}{name}"
        node, nullable = _resolve(raw, defs)
        if "properties" in node:
            yield from _walk(node, defs, f"{path}.")
            continue
        items = node.get("items")
        if isinstance(items, dict) and "$ref" in items:  # a list of choices (an enum)
            resolved, _ = _resolve(items, defs)
            if "properties" not in resolved:
                node = {**node, "items": resolved}
        yield _leaf(path, node, nullable)
        for suffix, inner in (("[]", node.get("items")), (".<name>",
                                                           node.get("additionalProperties"))):
            if isinstance(inner, dict):
                inner, _ = _resolve(inner, defs)
                if "properties" in inner:
                    yield from _walk(inner, defs, f"{path}{suffix}.")


def _leaf(path: str, node: dict[str, Any], nullable: bool) -> Setting:
    kind = "choice" if "enum" in node else node.get("type", "value")
    if kind == "array":
        kind = f"list of {node.get('items', {}).get('type', 'settings')}"
    if kind == "object":
        kind = "mapping"
    default = json.dumps(node["default"]) if "default" in node else ""
    return Setting(path, kind + (" or null" if nullable else ""), default, _range(node),
                   " ".join(node.get("description", "").split()), _bounded(node))


def _range(node: dict[str, Any]) -> str:
    if "enum" in node:
        return ", ".join(str(v) for v in node["enum"])
    parts = []
    low = ("≥", node["minimum"]) if "minimum" in node else (
        (">", node["exclusiveMinimum"]) if "exclusiveMinimum" in node else None)
    high = ("≤", node["maximum"]) if "maximum" in node else (
        ("<", node["exclusiveMaximum"]) if "exclusiveMaximum" in node else None)
    parts += [f"{bound[0]} {bound[1]:g}" for bound in (low, high) if bound is not None]
    for low_key, high_key, unit in (("minLength", "maxLength", "characters"),
                                    ("minItems", "maxItems", "items"),
                                    ("minProperties", "maxProperties", "entries")):
        if high_key in node:
            least = node.get(low_key, 0)
            parts.append(f"{least}-{node[high_key]} {unit}" if least else
                         f"at most {node[high_key]} {unit}")
    items = node.get("items")
    if isinstance(items, dict) and items and "properties" not in items and "$ref" not in items:
        inner = _range(items)
        if inner:
            parts.append(f"each {inner}")
    return ", ".join(parts)


def _bounded(node: dict[str, Any]) -> bool:
    """A number has both bounds, a text an upper length, a list or mapping an upper size
    (and a list's values their own bounds); choices and booleans are finite already."""
    kind = node.get("type")
    if "enum" in node or kind in ("boolean", None):
        return True
    if kind in ("number", "integer"):
        return (("minimum" in node or "exclusiveMinimum" in node)
                and ("maximum" in node or "exclusiveMaximum" in node))
    if kind == "string":
        return "maxLength" in node
    if kind == "array":
        items = node.get("items", {})
        inner = "properties" in items or "$ref" in items or _bounded(items)
        return "maxItems" in node and inner
    if kind == "object":
        return "maxProperties" in node
    return False


def markdown() -> str:
    return (
        "# Site config reference\n\n"
        "Every setting of `affectlens serve --config site.yaml` (docs/serving.md), with its\n"
        "default and the range it is checked against; a value outside it stops `serve` and\n"
        "`serve --check` with exit status 2, naming the file and the setting. Made from the\n"
        "pydantic models by `python -m affectlens.service.site_reference > "
        "docs/site-config.md`.\n\n"
        "Before starting, `serve` (and `serve --check`) also checks what the machine must\n"
        "provide: the database driver (SQLite, or PostgreSQL through `postgresql+psycopg://`),\n"
        "a readable, unencrypted PEM certificate and key that belong together, and a `host`\n"
        "that resolves to an address of this machine with `port` free on it.\n\n"
        "`analysis` takes the settings listed here; the offline-only ones ("
        + ", ".join(f"`{name}`" for name in sorted(OFFLINE_ONLY))
        + ") are refused, as live cameras never read them.\n\n"
        + settings_table(settings())
    )


if __name__ == "__main__":
    print(markdown(), end="")
