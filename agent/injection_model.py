"""A small bag-of-words model of injection wording, to back the rules up on phrasings they do not know.

Logistic regression over the words and word pairs of a message (read through the same normalising views as the
rules, see `injection_text`). In a message with more than `LENGTH_FLOOR` features each feature counts
sqrt(LENGTH_FLOOR / number of features), so that long messages do not add up to a high score by length alone.
Trained offline on labelled attempts and real customer messages; the weights ship as `agent/injection_lexicon.json`.
Scoring a message is a few dictionary look-ups. Train with `python -m agent.injection_model` (needs scikit-learn,
which sentence-transformers already installs).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from agent.injection_text import DECODED_KINDS, TextView, text_views

__all__ = ["DEFAULT_LEXICON", "LexicalModel", "default_model", "lexical_features", "train"]

DEFAULT_LEXICON = Path(__file__).with_name("injection_lexicon.json")
_ATTRIBUTION = (
    "Banking77: Casanueva et al. 2020, CC BY 4.0 (github.com/PolyAI-LDN/task-specific-datasets)",
    "CLINC150: Larson et al. 2019, CC BY 3.0 (github.com/clinc/oos-eval)",
)
LENGTH_FLOOR = 40
"""Feature count up to which every present feature counts 1; longer messages are damped."""
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")


def lexical_features(views: Sequence[TextView]) -> set[str]:
    """The words and adjacent word pairs of every reading of a text (normalised, de-obfuscated, decoded)."""
    features: set[str] = set()
    for view in views:
        tokens = _TOKEN.findall(view.text)
        features.update(tokens)
        features.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False))
        if view.kind in DECODED_KINDS:
            features.add("<decoded>")
    return features


def _damping(count: int) -> float:
    return 1.0 if count <= LENGTH_FLOOR else math.sqrt(LENGTH_FLOOR / count)


@dataclass(frozen=True, slots=True)
class LexicalModel:
    """Feature weights and a bias: `probability` is the logistic of their sum over the features present."""

    weights: Mapping[str, float]
    bias: float

    def probability(self, text: str) -> float:
        """How likely the model finds it that the text is an injection attempt, in [0, 1]."""
        return self.probability_of_views(text_views(text))

    def probability_of_views(self, views: Sequence[TextView]) -> float:
        """`probability` for a text already read through `text_views`."""
        features = lexical_features(views)
        weights = sum(self.weights.get(feature, 0.0) for feature in features)
        total = self.bias + weights * _damping(len(features))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, total))))

    @classmethod
    def from_file(cls, path: Path) -> LexicalModel:
        """Load weights written by `save`."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "bias" not in data or "weights" not in data:
            msg = f"{path} is not an injection lexicon (expected an object with 'bias' and 'weights')"
            raise ValueError(msg)
        return cls(weights={str(k): float(v) for k, v in data["weights"].items()}, bias=float(data["bias"]))

    def save(self, path: Path, *, trained_on: Sequence[str] = ()) -> None:
        """Write the weights as JSON (sorted, rounded to 4 decimals), with a note of the data they were fitted to."""
        weights = {feature: round(weight, 4) for feature, weight in sorted(self.weights.items())}
        data = {"trained_on": list(trained_on), "bias": round(self.bias, 4), "weights": weights}
        path.write_text(json.dumps(data, indent=0, ensure_ascii=False) + "\n", "utf-8")


@cache
def default_model() -> LexicalModel:
    """The model shipped with the package, loaded on first use."""
    return LexicalModel.from_file(DEFAULT_LEXICON)


def train(
    attacks: Sequence[str],
    benign: Sequence[str],
    *,
    real: Sequence[str] = (),
    c: float = 1.0,
    min_count: int = 2,
    benign_weight: float = 3.0,
) -> LexicalModel:
    """Fit L2-regularised logistic regression: `attacks` against `benign` (hard negatives, weighted up) and `real`.

    Features seen in fewer than `min_count` training texts are dropped; both classes carry the same total weight.
    """
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    texts = [*attacks, *benign, *real]
    featured = [lexical_features(text_views(text)) for text in texts]
    counts: dict[str, int] = {}
    for features in featured:
        for feature in features:
            counts[feature] = counts.get(feature, 0) + 1
    vocabulary = {feature: i for i, feature in enumerate(sorted(f for f, n in counts.items() if n >= min_count))}
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    for row, features in enumerate(featured):
        value = _damping(len(features))
        for feature in features:
            col = vocabulary.get(feature)
            if col is not None:
                rows.append(row)
                cols.append(col)
                values.append(value)
    matrix = csr_matrix((values, (rows, cols)), shape=(len(texts), len(vocabulary)))
    labels = [1] * len(attacks) + [0] * (len(benign) + len(real))
    negative_total = benign_weight * len(benign) + len(real)
    positive_weight = negative_total / max(1, len(attacks))
    sample_weight = [positive_weight] * len(attacks) + [benign_weight] * len(benign) + [1.0] * len(real)
    fitted = LogisticRegression(C=c, max_iter=2000).fit(matrix, labels, sample_weight=sample_weight)
    coefficients = fitted.coef_[0]
    weights = {feature: float(coefficients[i]) for feature, i in vocabulary.items() if abs(coefficients[i]) >= 1e-3}
    return LexicalModel(weights=weights, bias=float(fitted.intercept_[0]))


def _labelled(paths: Iterable[Path]) -> tuple[list[str], list[str]]:
    attacks: list[str] = []
    benign: list[str] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                (attacks if row["injection"] else benign).append(str(row["text"]))
    return attacks, benign


def _messages(path: Path, *, every: int, offset: int) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row[0] for row in list(csv.reader(handle))[1:] if row and row[0].strip()]
    return rows[offset::every]


def main() -> None:
    """Train the lexicon from labelled JSON-lines files and real-message CSVs, and write it."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--labelled", nargs="+", type=Path, required=True, help="JSON lines {text, injection}")
    parser.add_argument("--real", nargs="*", type=Path, default=[], help="CSV files of real messages (first column)")
    parser.add_argument("--real-every", type=int, default=2, help="use every n-th real message (keep the rest out)")
    parser.add_argument("--out", type=Path, default=DEFAULT_LEXICON)
    parser.add_argument("--c", type=float, default=1.0)
    args = parser.parse_args()
    attacks, benign = _labelled(args.labelled)
    real = [text for path in args.real for text in _messages(path, every=args.real_every, offset=0)]
    model = train(attacks, benign, real=real, c=args.c)
    sources = [path.name for path in args.labelled]
    sources += [f"{path.parent.name}/{path.name} (every {args.real_every}th message)" for path in args.real]
    model.save(args.out, trained_on=[*sources, *_ATTRIBUTION])
    print(f"{len(attacks)} attacks, {len(benign)} benign, {len(real)} real; {len(model.weights)} weights -> {args.out}")  # noqa: T201


if __name__ == "__main__":
    main()
