"""The analysis settings' reference (docs/analysis-config.md), made from ``AnalysisConfig``
so that every setting's default, range and meaning are documented as the model checks them.

``python -m affectlens.config_reference > docs/analysis-config.md`` writes it again;
tests/test_docs.py fails when the file is stale. The schema is walked and tabled by the site
config reference's functions (``affectlens.service.site_reference``), so both pages describe
a setting alike.
"""

from __future__ import annotations

from affectlens.config import AnalysisConfig
from affectlens.service.site import OFFLINE_ONLY
from affectlens.service.site_reference import model_settings, settings_table


def markdown() -> str:
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
        + "): a camera has its own purpose, frame rate, `falls` and `distress`.\n\n"
        + settings_table(model_settings(AnalysisConfig))
    )


if __name__ == "__main__":
    print(markdown(), end="")
