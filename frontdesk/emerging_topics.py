"""Topics for the emerging-issue detector from the service's own parts: the trained intent classifier places
messages, the embedder clusters the ones it declares out of scope."""

from __future__ import annotations

from collections.abc import Sequence

from agent.intents import IntentClassifier
from analytics.topics import OnlineClusters, TopicGrouper
from knowledge.embeddings import Embedder


class IntentTopicAssigner:
    """A `TopicAssigner` over an `IntentClassifier`: the predicted intent is the topic; a message the classifier
    calls out of scope, or places with less than `min_confidence`, is unplaced (None)."""

    def __init__(self, classifier: IntentClassifier, *, min_confidence: float = 0.0) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            msg = f"min_confidence must be between 0 and 1, got {min_confidence}"
            raise ValueError(msg)
        self.classifier = classifier
        self.min_confidence = min_confidence

    def assign(self, texts: Sequence[str]) -> list[str | None]:
        """The intent of each text, or None when it is out of scope (or too unsure)."""
        predictions = self.classifier.predict_many(list(texts))
        return [None if p.out_of_scope or p.confidence < self.min_confidence else p.intent for p in predictions]


def intent_topic_grouper(
    classifier: IntentClassifier, embedder: Embedder, *, clusters: OnlineClusters | None = None
) -> TopicGrouper:
    """Every message gets a topic: its intent, or an online cluster of the messages no intent fits."""
    return TopicGrouper(IntentTopicAssigner(classifier), encode=embedder.embed_documents, clusters=clusters)
