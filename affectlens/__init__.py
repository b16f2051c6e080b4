"""affectlens: privacy-first video analytics for wellbeing and safety.

    import affectlens
    result = affectlens.analyze("session.mp4")
    result.tracks            # one row per face track: dominant expression, age band
    result.to_csv("out/")    # frames.csv and tracks.csv
"""

from affectlens.analysis import analyze
from affectlens.config import AnalysisConfig
from affectlens.result import Result
from affectlens.version import __version__

__all__ = ["AnalysisConfig", "Result", "__version__", "analyze"]
