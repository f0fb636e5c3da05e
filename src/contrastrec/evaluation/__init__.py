"""Full-ranking evaluation, ranking metrics and representation diagnostics."""
from .diagnostics import alignment, embedding_diagnostics, uniformity
from .evaluator import EvaluationResult, FullRankingEvaluator, evaluate, evaluate_detailed
from .metrics import METRICS, compute_metrics, parse_metric

__all__ = [
    "evaluate",
    "evaluate_detailed",
    "EvaluationResult",
    "FullRankingEvaluator",
    "parse_metric",
    "compute_metrics",
    "METRICS",
    "alignment",
    "uniformity",
    "embedding_diagnostics",
]
