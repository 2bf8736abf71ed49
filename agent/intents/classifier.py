"""The intent classifier: MiniLM with fine-tuned top layers and a cosine head, and an explicit out-of-scope outcome.

A message is out of scope when the head gives the `oos` class (taught from `oos` examples, background
messages and blends of two intents) more than `oos_margin` times its best intent's probability, or when it
lies too far from every in-scope training message and the head is not sure of it either: the mean cosine
similarity of its nearest training messages, in the untouched encoder's space, is below a threshold
calibrated by leave-one-out on the training messages so that `in_scope_acceptance` of unseen in-scope
messages would pass it, and the head is unsure (its best intent has less than `trust_probability`, or less
than `trust_margin` times the next one) and the lexical model (`agent.intents.lexical`) does not name the
same intent. Two signals, because each fails alone: in a dense domain (Banking77) many good messages lie far
from the training phrasings yet are classified confidently, while gibberish and off-topic chat are both far
and spread thin over the intents.

The intent itself is chosen by the head, a vote of the nearest training messages and the lexical model,
mixed (see `IntentConfig`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from agent.intents.background import far_from_training, load_background
from agent.intents.data import OOS_LABEL, IntentDataError, normalise_label
from agent.intents.encoder import IntentEncoder, Matrix, softmax
from agent.intents.lexical import LexicalModel, SavedLexical
from agent.intents.rejection import knn_scores, leave_one_out_knn_scores
from agent.intents.training import IntentConfig, fine_tune, pooled, torch_threads
from knowledge.embeddings import Embedder, resolve_model_path

FORMAT_VERSION = 1
METADATA_FILE = "intents.json"
TENSORS_FILE = "intents.safetensors"
LEXICAL_FILE = "lexical.json"
ALTERNATIVES = 3


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    """The intent of one message.

    `intent` is an intent name, or `OOS_LABEL` when the message is out of scope. `confidence` is the
    probability of that intent, or for out-of-scope messages one minus the probability of the best
    in-scope intent. `alternatives` are the next most likely in-scope intents with their probabilities
    (for an out-of-scope message, the most likely ones).
    """

    intent: str
    confidence: float
    out_of_scope: bool
    alternatives: list[tuple[str, float]]


@dataclass(frozen=True, slots=True)
class IntentScores:
    """What the classifier reads of a batch of messages, one row each (columns in `labels` order).

    `head`: the fine-tuned head's probabilities (they decide out of scope); `similarity`: the mean similarity
    to the nearest in-scope training messages (out of scope below the threshold, unless a model is sure);
    `choice`: the probabilities that pick the intent (head, nearest-neighbour vote and lexical model mixed);
    `lexical`: the lexical model's probabilities, when the classifier has one.
    """

    head: Matrix
    similarity: Matrix
    choice: Matrix
    lexical: Matrix | None


class IntentClassifier:
    """Classifies customer messages into intents, or declares them out of scope."""

    def __init__(
        self,
        *,
        encoder: IntentEncoder,
        embedder: Embedder,
        labels: Sequence[str],
        head: Matrix,
        bank: Matrix,
        threshold: float,
        config: IntentConfig,
        memory: Matrix | None = None,
        memory_labels: npt.NDArray[np.integer] | None = None,
        lexical: LexicalModel | None = None,
        summary: dict[str, float | int | str] | None = None,
    ) -> None:
        if head.shape != (len(labels), encoder.dimension):
            msg = f"the head has shape {head.shape}; expected ({len(labels)}, {encoder.dimension})"
            raise ValueError(msg)
        self._encoder = encoder
        self._embedder = embedder
        self.base_model = embedder.name
        self.labels = list(labels)
        self._head = np.ascontiguousarray(head, dtype=np.float32)
        self._bank = np.ascontiguousarray(bank, dtype=np.float32)
        self.threshold = float(threshold)
        self.config = config
        self.summary: dict[str, float | int | str] = dict(summary or {})
        if memory is not None and (memory_labels is None or len(memory_labels) != len(memory)):
            msg = "the training-message memory needs one label per vector"
            raise ValueError(msg)
        self._memory = None if memory is None else np.ascontiguousarray(memory, dtype=np.float32)
        self._memory_labels = None if memory_labels is None else np.asarray(memory_labels, dtype=np.int64)
        if lexical is not None and lexical.classes != len(self.labels):
            msg = f"the lexical model knows {lexical.classes} classes; expected {len(self.labels)}"
            raise ValueError(msg)
        self._lexical = lexical
        self._oos_index = self.labels.index(OOS_LABEL) if OOS_LABEL in self.labels else None
        self._in_scope = np.array([label != OOS_LABEL for label in self.labels])

    @property
    def intents(self) -> list[str]:
        """The in-scope intents the classifier knows."""
        return [label for label in self.labels if label != OOS_LABEL]

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        embedder: Embedder,
        config: IntentConfig | None = None,
    ) -> IntentClassifier:
        """Train on labelled messages; `oos` (or `NO_NODES_DETECTED`) labels mark out-of-scope examples.

        The encoder is the embedder's model (by name); its top layers are fine-tuned, the embedder itself is
        left untouched. Raises `IntentDataError` when the data cannot train a classifier.
        """
        config = config or IntentConfig()
        if len(texts) != len(labels):
            msg = f"got {len(texts)} texts but {len(labels)} labels"
            raise IntentDataError(msg)
        normalised = [normalise_label(label) for label in labels]
        classes = sorted(set(normalised))
        in_scope = [label for label in classes if label != OOS_LABEL]
        if len(in_scope) < 2:
            msg = f"training needs at least two in-scope intents, got {in_scope!r}"
            raise IntentDataError(msg)
        started = time.perf_counter()
        background_messages = load_background() if config.background else []
        background = [message.text for message in background_messages]
        with torch_threads(config.threads):
            encoder = IntentEncoder(
                resolve_model_path(embedder.name),
                max_seq_length=config.max_seq_length,
                tuned_layers=config.tuned_layers,
            )
            states, base = encoder.lower_states([*texts, *background])
            keep = np.array([label != OOS_LABEL for label in normalised])
            bank = base[: len(texts)][keep]
            kept_texts = [text for text, flag in zip(texts, keep, strict=True) if flag]
            loo = leave_one_out_knn_scores(bank, kept_texts, config.neighbours)
            far = far_from_training(
                base[len(texts) :],
                [message.group for message in background_messages],
                bank,
                loo,
                neighbours=config.neighbours,
                quantile=config.background_closeness,
                domain_share=config.background_domain_share,
            )
            used = [len(texts) + int(i) for i in np.flatnonzero(far)]
            if used:
                classes = sorted({*classes, OOS_LABEL})
            index = {label: i for i, label in enumerate(classes)}
            targets = [index[label] for label in normalised] + [index[OOS_LABEL] for _ in used]
            taught = states[: len(texts)] + [states[i] for i in used]
            head = fine_tune(encoder, taught, targets, len(classes), config, oos_class=index.get(OOS_LABEL))
            memory = pooled(encoder, taught).numpy() if config.vote_weight > 0 else None
        lexical = None
        if config.lexical_weight > 0:
            taught_texts = list(texts) + [background[i - len(texts)] for i in used]
            lexical = LexicalModel.fit(taught_texts, targets, len(classes), c=config.lexical_c)
        threshold = float(np.quantile(loo, 1.0 - config.in_scope_acceptance))
        summary: dict[str, float | int | str] = {
            "examples": len(texts),
            "intents": len(in_scope),
            "oos_examples": int((~keep).sum()),
            "background_examples": len(used),
            "train_seconds": round(time.perf_counter() - started, 1),
        }
        return cls(
            encoder=encoder,
            embedder=embedder,
            labels=classes,
            head=head.numpy(),
            bank=bank,
            threshold=threshold,
            config=config,
            memory=memory,
            memory_labels=np.array(targets) if memory is not None else None,
            lexical=lexical,
            summary=summary,
        )

    def predict(self, text: str) -> IntentPrediction:
        """The intent of one message."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[IntentPrediction]:
        """The intents of many messages, encoded in batches."""
        if not texts:
            return []
        scores = self.scores(texts)
        lexical = scores.lexical if scores.lexical is not None else [None] * len(texts)
        return [
            self.decide(row, float(score), choice=pick, lexical=words)
            for row, score, pick, words in zip(scores.head, scores.similarity, scores.choice, lexical, strict=True)
        ]

    def scores(self, texts: Sequence[str]) -> IntentScores:
        """Every signal the decision reads, for each message (see `IntentScores`)."""
        base = self._embedder.embed_queries(list(texts))
        tuned = self._encoder.encode(list(texts))
        head = softmax(self.config.scale * tuned @ self._head.T)
        choice = head
        if self._memory is not None and self._memory_labels is not None and self.config.vote_weight > 0:
            weight = self.config.vote_weight
            choice = (1 - weight) * head + weight * self._vote(tuned)
        lexical = self._lexical.probabilities(list(texts)) if self._lexical is not None else None
        if lexical is not None:
            choice = (1 - self.config.lexical_weight) * choice + self.config.lexical_weight * lexical
        return IntentScores(head, knn_scores(base, self._bank, self.config.neighbours), choice, lexical)

    def _vote(self, tuned: Matrix) -> Matrix:
        """Each message's class distribution among its nearest training messages (fine-tuned space)."""
        assert self._memory is not None and self._memory_labels is not None
        k = min(self.config.vote_neighbours, len(self._memory))
        similarity = tuned @ self._memory.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = softmax(np.take_along_axis(similarity, nearest, axis=1) / self.config.vote_temperature)
        vote = np.zeros((len(tuned), len(self.labels)), dtype=np.float32)
        np.add.at(vote, (np.repeat(np.arange(len(tuned)), k), self._memory_labels[nearest].ravel()), weights.ravel())
        return vote

    def decide(
        self,
        probabilities: Matrix,
        similarity: float,
        *,
        choice: Matrix | None = None,
        lexical: Matrix | None = None,
    ) -> IntentPrediction:
        """The prediction for one message's `scores`: the head's probabilities decide whether it is out of
        scope (the vote would make the head look surer than it is, and out-of-scope messages pass), unless the
        lexical model agrees with the head's best intent; `choice` (default: the head's) picks the intent."""
        ranked = [int(i) for i in np.argsort(-probabilities) if self._in_scope[i]]
        best = ranked[0]
        runner_up = float(probabilities[ranked[1]]) if len(ranked) > 1 else 0.0
        sure = float(probabilities[best]) >= max(self.config.trust_probability, self.config.trust_margin * runner_up)
        agreed = (
            lexical is not None
            and int(np.argmax(lexical)) == best
            and float(lexical[best]) >= self.config.lexical_agreement
        )
        outside = float(probabilities[self._oos_index]) if self._oos_index is not None else 0.0
        out_of_scope = outside > self.config.oos_margin * float(probabilities[best]) or (
            similarity < self.threshold and not (sure or agreed)
        )
        if choice is not None:
            probabilities = choice
            ranked = [int(i) for i in np.argsort(-probabilities) if self._in_scope[i]]
            best = ranked[0]
        if out_of_scope:
            alternatives = [(self.labels[i], round(float(probabilities[i]), 4)) for i in ranked[:ALTERNATIVES]]
            return IntentPrediction(OOS_LABEL, 1.0 - float(probabilities[best]), True, alternatives)
        alternatives = [(self.labels[i], round(float(probabilities[i]), 4)) for i in ranked[1 : ALTERNATIVES + 1]]
        return IntentPrediction(self.labels[best], float(probabilities[best]), False, alternatives)

    def save(self, path: Path) -> None:
        """Write the classifier to a folder: tensors as safetensors, the rest as JSON (no pickle)."""
        from safetensors.torch import save_file

        path.mkdir(parents=True, exist_ok=True)
        tensors = {f"tuned.{key}": value for key, value in self._encoder.tuned_state().items()}
        tensors["head"] = torch.from_numpy(self._head.copy())
        tensors["bank"] = torch.from_numpy(self._bank.copy())
        if self._memory is not None and self._memory_labels is not None:
            tensors["memory"] = torch.from_numpy(self._memory.copy())
            tensors["memory_labels"] = torch.from_numpy(self._memory_labels.astype(np.int32))
        if self._lexical is not None:
            saved = self._lexical.to_saved()
            tensors |= {f"lexical.{key}": torch.from_numpy(value.copy()) for key, value in saved.tensors.items()}
            (path / LEXICAL_FILE).write_text(json.dumps(saved.terms, ensure_ascii=False) + "\n", encoding="utf-8")
        else:
            (path / LEXICAL_FILE).unlink(missing_ok=True)
        save_file(tensors, str(path / TENSORS_FILE))
        metadata = {
            "format_version": FORMAT_VERSION,
            "base_model": self.base_model,
            "labels": self.labels,
            "threshold": self.threshold,
            "config": asdict(self.config),
            "summary": self.summary,
        }
        (path / METADATA_FILE).write_text(json.dumps(metadata, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path, *, embedder: Embedder) -> IntentClassifier:
        """Load a classifier saved by `save`; `embedder` must use the model it was trained with.

        The classifier keeps the embedder: its (cached) query vectors place messages among the training
        messages for the out-of-scope rule, while a fine-tuned copy of its model picks the intent.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        meta_path = path / METADATA_FILE
        try:
            metadata = json.loads(meta_path.read_text(encoding="utf-8"))
            tensors = load_file(str(path / TENSORS_FILE))
        except (OSError, json.JSONDecodeError, SafetensorError) as exc:
            msg = f"{path}: not a saved intent classifier ({exc})"
            raise ValueError(msg) from exc
        if not isinstance(metadata, dict) or metadata.get("format_version") != FORMAT_VERSION:
            found = metadata.get("format_version") if isinstance(metadata, dict) else None
            msg = f"{meta_path}: format_version {found!r}; expected {FORMAT_VERSION}"
            raise ValueError(msg)
        if metadata.get("base_model") != embedder.name:
            msg = f"{path} was trained on model {metadata.get('base_model')!r}, but the embedder is {embedder.name!r}"
            raise ValueError(msg)
        try:
            # Saved before `oos_margin` existed: the out-of-scope class won when it was the head's best class.
            config = IntentConfig(**{"oos_margin": 1.0, **metadata["config"]})
            labels, threshold = list(metadata["labels"]), float(metadata["threshold"])
            head, bank = tensors["head"].numpy(), tensors["bank"].numpy()
            memory = tensors["memory"].numpy() if "memory" in tensors else None
            memory_labels = tensors["memory_labels"].numpy() if "memory_labels" in tensors else None
            lexical = _load_lexical(path, tensors)
        except (KeyError, TypeError, ValueError, OSError) as exc:
            msg = f"{path}: the saved intent classifier is incomplete or from another version ({exc})"
            raise ValueError(msg) from exc
        encoder = IntentEncoder(
            resolve_model_path(embedder.name), max_seq_length=config.max_seq_length, tuned_layers=config.tuned_layers
        )
        encoder.load_tuned_state({key[6:]: value for key, value in tensors.items() if key.startswith("tuned.")})
        return cls(
            encoder=encoder,
            embedder=embedder,
            labels=labels,
            head=head,
            bank=bank,
            threshold=threshold,
            config=config,
            memory=memory,
            memory_labels=memory_labels,
            lexical=lexical,
            summary=metadata.get("summary"),
        )


def _load_lexical(path: Path, tensors: dict[str, torch.Tensor]) -> LexicalModel | None:
    parts = {key[8:]: value.numpy() for key, value in tensors.items() if key.startswith("lexical.")}
    if not parts:
        return None
    terms = json.loads((path / LEXICAL_FILE).read_text(encoding="utf-8"))
    if not isinstance(terms, dict):
        msg = f"{path / LEXICAL_FILE} is not a JSON object"
        raise ValueError(msg)
    return LexicalModel.from_saved(SavedLexical(terms, parts))
