"""Intent classification with an explicit out-of-scope outcome."""

from agent.intents.classifier import IntentClassifier, IntentPrediction
from agent.intents.data import OOS_LABEL, IntentDataError, LabelledMessages, load_labelled_csv, normalise_label
from agent.intents.training import IntentConfig

__all__ = [
    "OOS_LABEL",
    "IntentClassifier",
    "IntentConfig",
    "IntentDataError",
    "IntentPrediction",
    "LabelledMessages",
    "load_labelled_csv",
    "normalise_label",
]
