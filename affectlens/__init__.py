"""affectlens: privacy-first video analytics for wellbeing and safety.

    import affectlens
    result = affectlens.analyze("session.mp4")
    result.tracks            # one row per face track: dominant expression, age band
    result.to_csv("out/")    # frames.csv and tracks.csv

``analyze``, ``AnalysisConfig`` and ``Result`` are imported on first use (module
``__getattr__``): importing them here loaded the whole analysis stack (pandas, ONNX Runtime,
OpenCV) for every submodule too, the command line's ``--version`` included.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from affectlens.version import __version__

if TYPE_CHECKING:
    from affectlens.analysis import analyze
    from affectlens.config import AnalysisConfig
    from affectlens.result import Result

__all__ = ["AnalysisConfig", "Result", "__version__", "analyze"]

_LAZY = {
    "analyze": "affectlens.analysis",
    "AnalysisConfig": "affectlens.config",
    "Result": "affectlens.result",
}


def __getattr__(name: str) -> Any:
    """Imports ``analyze``, ``AnalysisConfig`` and ``Result`` when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module 'affectlens' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
