"""affectlens: privacy-first video analytics for wellbeing and safety.

    import affectlens
    result = affectlens.analyze("session.mp4")
    result.tracks            # one row per face track: dominant expression, age band
    result.to_csv("out/")    # frames.csv and tracks.csv
"""

from affectlens.analysis import analyze
from affectlens.config import AnalysisConfig
from affectlens.result import Result

__version__ = "0.1.0"
__all__ = ["AnalysisConfig", "Result", "__version__", "analyze"]
