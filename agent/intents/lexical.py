"""A second opinion on the intent from the message's words and letters: TF-IDF features and logistic regression.

The fine-tuned encoder reads meaning; this model reads surface forms (a product name, a typo, a phrase the
training set repeats). They err on different messages, so their mix picks the intent better than either,
and when both name the same intent a message far from the training phrasings is still in scope.

Saved without pickle: the vocabularies as JSON, the weights as tensors (see `to_saved` / `from_saved`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, hstack
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from agent.intents.encoder import Matrix, softmax

logger = logging.getLogger(__name__)

MAX_ITERATIONS = 2000


def _word_vectorizer(vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, vocabulary=vocabulary)


def _char_vectorizer(min_df: int = 1, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=min_df, vocabulary=vocabulary
    )


@dataclass(frozen=True, slots=True)
class SavedLexical:
    """What `LexicalModel` saves: `terms` (JSON) and `tensors` (safetensors)."""

    terms: dict[str, list[str]]
    tensors: dict[str, npt.NDArray[np.float32]]


class LexicalModel:
    """Class probabilities from word 1-2-grams and character 2-5-grams (TF-IDF) by logistic regression."""

    def __init__(self, word: TfidfVectorizer, char: TfidfVectorizer, coef: Matrix, intercept: Matrix) -> None:
        self._word = word
        self._char = char
        self._coef = np.ascontiguousarray(coef, dtype=np.float32)
        self._intercept = np.asarray(intercept, dtype=np.float32)

    @property
    def classes(self) -> int:
        return int(self._coef.shape[0])

    @classmethod
    def fit(cls, texts: Sequence[str], targets: Sequence[int], n_classes: int, *, c: float) -> LexicalModel:
        """Train on texts and their class indices (0 .. n_classes - 1; a class without texts gets no mass)."""
        word = _word_vectorizer()
        char = _char_vectorizer(min_df=2 if len(texts) >= 1000 else 1)
        features = hstack([word.fit_transform(texts), char.fit_transform(texts)]).tocsr()
        present = sorted(set(targets))
        model = LogisticRegression(C=c, max_iter=MAX_ITERATIONS)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(features, list(targets))
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            logger.warning("the lexical intent model did not converge in %d iterations", MAX_ITERATIONS)
        coef = np.full((n_classes, features.shape[1]), 0.0, dtype=np.float32)
        intercept = np.full(n_classes, -1e4, dtype=np.float32)  # classes without texts: never chosen
        if len(present) == 2:  # binary logistic regression keeps one row: the second class against the first
            coef[present[1]], intercept[present[1]] = model.coef_[0], model.intercept_[0]
            intercept[present[0]] = 0.0
        else:
            coef[present], intercept[present] = model.coef_, model.intercept_
        return cls(word, char, coef, intercept)

    def probabilities(self, texts: Sequence[str]) -> Matrix:
        """Each text's class probabilities (rows sum to one)."""
        features: csr_matrix = hstack([self._word.transform(texts), self._char.transform(texts)]).tocsr()
        return softmax(np.asarray(features @ self._coef.T) + self._intercept)

    def to_saved(self) -> SavedLexical:
        terms = {name: _terms(vectorizer) for name, vectorizer in (("word", self._word), ("char", self._char))}
        tensors = {
            "word_idf": np.asarray(self._word.idf_, dtype=np.float32),
            "char_idf": np.asarray(self._char.idf_, dtype=np.float32),
            "coef": self._coef,
            "intercept": self._intercept,
        }
        return SavedLexical(terms, tensors)

    @classmethod
    def from_saved(cls, saved: SavedLexical) -> LexicalModel:
        """Rebuild a model from `to_saved`; raises `ValueError` when the parts do not fit together."""
        try:
            word_terms, char_terms = saved.terms["word"], saved.terms["char"]
            word_idf, char_idf = saved.tensors["word_idf"], saved.tensors["char_idf"]
            coef, intercept = saved.tensors["coef"], saved.tensors["intercept"]
        except KeyError as exc:
            msg = f"the lexical model misses {exc}"
            raise ValueError(msg) from exc
        if len(word_terms) != len(word_idf) or len(char_terms) != len(char_idf):
            msg = "the lexical model's vocabularies and weights differ in size"
            raise ValueError(msg)
        if coef.shape != (len(intercept), len(word_terms) + len(char_terms)):
            msg = f"the lexical model's weights have shape {coef.shape}"
            raise ValueError(msg)
        word = _word_vectorizer({term: i for i, term in enumerate(word_terms)})
        char = _char_vectorizer(vocabulary={term: i for i, term in enumerate(char_terms)})
        word.idf_, char.idf_ = np.asarray(word_idf, dtype=np.float64), np.asarray(char_idf, dtype=np.float64)
        return cls(word, char, coef, intercept)


def _terms(vectorizer: TfidfVectorizer) -> list[str]:
    terms = [""] * len(vectorizer.vocabulary_)
    for term, index in vectorizer.vocabulary_.items():
        terms[int(index)] = term
    return terms
