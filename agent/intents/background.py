"""Background messages: ordinary requests from other domains, taught to the classifier as out of scope.

A classifier trained only on a bot's own intents has never seen anything else, so it places greetings,
chit-chat and requests from other domains confidently in one of its intents. Training an out-of-scope
class on messages from many unrelated domains (outlier exposure) teaches it what "something else" looks
like. The bundled set is a sample of CLINC150's training split (see BACKGROUND.md beside this file):
four messages from each of its 150 intents in ten domains, and its 100 out-of-scope training messages.

Background messages that lie as close to the training data as the training messages lie to each other
are dropped first, so that a bot whose own domain the set covers (a bank, say) does not learn its own
requests as out of scope.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import numpy.typing as npt

from agent.intents.encoder import Matrix
from agent.intents.rejection import knn_scores

BACKGROUND_FILE = "background.csv"


@dataclass(frozen=True, slots=True)
class BackgroundMessage:
    """One background message and its group (`domain/intent` of its source, or `oos`)."""

    text: str
    group: str


def load_background() -> list[BackgroundMessage]:
    """The bundled background messages."""
    text = resources.files("agent.intents").joinpath(BACKGROUND_FILE).read_text(encoding="utf-8")
    return [BackgroundMessage(row["text"], row["group"]) for row in csv.DictReader(io.StringIO(text, newline=""))]


def far_from_training(
    background: Matrix,
    groups: Sequence[str],
    bank: Matrix,
    in_scope_scores: Matrix,
    *,
    neighbours: int,
    quantile: float,
    domain_share: float,
) -> npt.NDArray[np.bool_]:
    """Which background vectors to keep.

    A background message is close when its nearest-training-message similarity reaches the `quantile` of the
    in-scope messages' own leave-one-out similarities (`in_scope_scores`). Close messages are dropped, and so is
    every message of a domain (the part of `groups` before "/") with at least `domain_share` of its messages
    close: that domain is the bot's own (a bank's bot drops the banking and credit-card domains whole).
    """
    if background.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    limit = float(np.quantile(in_scope_scores, quantile))
    close = np.asarray(knn_scores(background, bank, neighbours) >= limit)
    domains = np.array([group.split("/")[0] if "/" in group else "" for group in groups])
    keep = ~close
    for domain in set(domains.tolist()) - {""}:
        members = domains == domain
        if close[members].mean() >= domain_share:
            keep &= ~members
    return keep
