"""Dataset analysis (paper section 5.3-5.4, Fig 4): the properties that predict downstream accuracy.

    analyze(AnalysisOptions(datasets=(...), out="report/", features=("checkpoint:runs/x",)))

Module map: options (what a run does), videosets (shard sets and in-memory sets), reference (the built-in
natural reference), sampling (which videos and frames), spectrum / colour / motion / objects (low-level
statistics), features + standard_nets (feature networks), gaussians (FID/FVD, KL, log-det), collect (one
streaming pass per set), metrics (a set's row), correlate (accuracy and Pearson r), plots / html / report
(outputs), analyze (end to end), cli (`synthvid-train analyze`).
"""

from .analyze import AnalysisResult, analyze
from .errors import AnalysisError
from .options import AnalysisOptions

__all__ = ["AnalysisError", "AnalysisOptions", "AnalysisResult", "analyze"]
