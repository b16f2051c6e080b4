"""The analysis settings' reference (docs/analysis-config.md), made from ``AnalysisConfig``
so that every setting's default, range and meaning are documented as the model checks them.

``python -m affectlens.config_reference > docs/analysis-config.md`` writes it again;
tests/test_docs.py fails when the file is stale. The schema is walked by the site config
reference's own walker (``affectlens.service.site_reference``), so both pages describe a
setting alike; it is private there, and would move to a shared public function the next time
that module changes.
"""

from __future__ import annotations

from affectlens.config import AnalysisConfig
from affectlens.service.site import OFFLINE_ONLY
from affectlens.service.site_reference import Setting, _walk


def settings() -> list[Setting]:
    """Every setting of ``AnalysisConfig``, depth first, in the model's field order."""
    schema = AnalysisConfig.model_json_schema()
    return list(_walk(schema, schema.get("$defs", {}), ""))


def markdown() -> str:
    rows = ["| setting | type | default | range | meaning |", "|---|---|---|---|---|"]
    for s in settings():
        cells = [f"`{s.path}`", s.kind, f"`{s.default}`" if s.default else "",
                 s.range, s.description]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return (
        "# Analysis settings reference\n\n"
        "Every setting of `AnalysisConfig` (`affectlens/config.py`): how a video or image is\n"
        "analysed, with its default and the range it is checked against; unknown keys and\n"
        "values outside the range are refused with the setting's name. Made from the pydantic\n"
        "model by `python -m affectlens.config_reference > docs/analysis-config.md`.\n\n"
        "Offline, `affectlens analyze` sets the most used ones from its options\n"
        "([command line reference](cli.md)) and the Python API takes them all\n"
        "(`affectlens.analyze(paths, AnalysisConfig(...))`, see [usage](usage.md)). Live, the\n"
        "site config's `analysis` section sets them for every camera ([site config\n"
        "reference](site-config.md)), except the offline-only ones ("
        + ", ".join(f"`{name}`" for name in sorted(OFFLINE_ONLY))
        + "): a camera has its own purpose, frame rate and `falls`.\n\n"
        + "\n".join(rows) + "\n"
    )


if __name__ == "__main__":
    print(markdown(), end="")
