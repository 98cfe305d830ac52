"""The one error type of the analysis: bad input (dataset, reference, weights file, accuracy table), said in
one line that names the thing and what to do."""


class AnalysisError(RuntimeError):
    pass
