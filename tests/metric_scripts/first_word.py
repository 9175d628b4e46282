"""A small Hugging Face ``evaluate`` metric script, loaded offline by path in tests/test_evaluate_metrics.py.

``first_word``: the share of predictions whose first word equals the
reference's first word (case folded); ``exact``: the share equal as a whole.
"""

import datasets
import evaluate


class FirstWord(evaluate.Metric):
    """First-word and exact agreement of predicted and reference strings, 0-1."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description="predictions and references: one string each",
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions: list[str], references: list[str]) -> dict[str, float]:
        def first(text: str) -> str:
            return text.lower().split()[0] if text.split() else ""

        n = len(predictions)
        return {
            "first_word": sum(first(p) == first(r) for p, r in zip(predictions, references)) / n,
            "exact": sum(p == r for p, r in zip(predictions, references)) / n,
        }
