"""Fine-tuning the top encoder layers and a cosine-softmax head on labelled messages."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from agent.intents.encoder import IntentEncoder

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IntentConfig:
    """How an intent classifier is trained and how readily it declares a message out of scope.

    `tuned_layers` top layers of the encoder are fine-tuned (0 keeps it frozen and trains the head only),
    for `epochs` passes over the data, or more on small data sets so that there are at least `min_steps` steps.
    `in_scope_acceptance` is the share of unseen in-scope messages the out-of-scope rule should accept,
    estimated by leaving each training message out in turn (1.0 nearly turns the rule off: a closed world
    where only an `oos` training class marks messages out of scope); `neighbours` is how many nearest
    training messages the rule averages over. A message below that similarity is still accepted when the
    classifier gives its intent at least `trust_probability` and `trust_margin` times the next intent's
    probability (a probability of 1.0 turns trust off). The head's probabilities are mixed with a vote of
    the `vote_neighbours` nearest training messages in the fine-tuned space (softmax of their similarities
    at `vote_temperature`), the vote weighing `vote_weight` (0 turns it off); that mix is mixed in turn with a
    lexical model's probabilities (TF-IDF of words and letters, logistic regression with inverse regularisation
    `lexical_c`; see `agent.intents.lexical`) weighing `lexical_weight` (0 turns it off). A message below the
    similarity threshold is also accepted when the lexical model gives the head's best intent at least
    `lexical_agreement` and more than any other class: two models that read it differently agree. With
    `background`, bundled messages from other domains are taught as out of scope (see
    `agent.intents.background`), except those closer to the training messages than the `background_closeness`
    quantile of their own leave-one-out similarities, and whole domains of the set with at least
    `background_domain_share` of their messages that close. The out-of-scope class also learns blends of two
    training messages of different intents (their fine-tuned vectors mixed 30-70% to 70-30%, the loss weighing
    `mixup_weight`; 0 turns it off): they stand for requests of the bot's own domain that none of its intents
    covers, which the background cannot show. The head declares a message out of scope when it gives that class
    more than `oos_margin` times its best intent's probability. `threads` caps torch's threads while training
    (default: half the cores, at most four).
    """

    tuned_layers: int = 4
    epochs: int = 3
    min_steps: int = 300
    batch_size: int = 32
    learning_rate: float = 3e-4
    head_learning_rate: float = 3e-3
    weight_decay: float = 0.01
    scale: float = 20.0
    label_smoothing: float = 0.1
    max_seq_length: int = 64
    seed: int = 0
    threads: int | None = None
    in_scope_acceptance: float = 0.98
    neighbours: int = 5
    trust_probability: float = 0.3
    trust_margin: float = 3.0
    background: bool = True
    background_closeness: float = 0.1
    background_domain_share: float = 0.1
    vote_neighbours: int = 10
    vote_temperature: float = 0.05
    vote_weight: float = 0.3
    lexical_weight: float = 0.3
    lexical_agreement: float = 0.2
    lexical_c: float = 20.0
    mixup_weight: float = 0.1
    oos_margin: float = 2.0

    def __post_init__(self) -> None:
        checks = {
            "tuned_layers": self.tuned_layers >= 0,
            "epochs": self.epochs >= 0,
            "min_steps": self.min_steps >= 0,
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0,
            "head_learning_rate": self.head_learning_rate > 0,
            "scale": self.scale > 0,
            "label_smoothing": 0 <= self.label_smoothing < 1,
            "in_scope_acceptance": 0.5 <= self.in_scope_acceptance <= 1,
            "neighbours": self.neighbours >= 1,
            "trust_probability": 0 < self.trust_probability <= 1,
            "trust_margin": self.trust_margin >= 1,
            "background_closeness": 0 <= self.background_closeness <= 1,
            "background_domain_share": 0 < self.background_domain_share <= 1,
            "vote_neighbours": self.vote_neighbours >= 1,
            "vote_temperature": self.vote_temperature > 0,
            "vote_weight": 0 <= self.vote_weight <= 1,
            "lexical_weight": 0 <= self.lexical_weight <= 1,
            "lexical_agreement": 0 <= self.lexical_agreement <= 1,
            "lexical_c": self.lexical_c > 0,
            "mixup_weight": self.mixup_weight >= 0,
            "oos_margin": self.oos_margin > 0,
            "threads": self.threads is None or self.threads >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                msg = f"IntentConfig.{name} has an invalid value {getattr(self, name)!r}"
                raise ValueError(msg)


def default_threads() -> int:
    """Half the machine's cores (at least one, at most four): training leaves room for the service."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run torch with `threads` intra-op threads (the default share when None), then restore the setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _bucketed_batches(lengths: Sequence[int], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Shuffled batches of similar lengths (little padding), in a shuffled order."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def pooled(encoder: IntentEncoder, states: Sequence[torch.Tensor], batch_size: int = 128) -> torch.Tensor:
    lengths = [int(state.shape[0]) for state in states]
    order = sorted(range(len(states)), key=lambda i: lengths[i])
    out = torch.zeros((len(states), encoder.dimension))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            out[batch] = encoder.pool_top([states[i] for i in batch])
    return out


def fine_tune(
    encoder: IntentEncoder,
    states: Sequence[torch.Tensor],
    label_ids: Sequence[int],
    n_classes: int,
    config: IntentConfig,
    *,
    oos_class: int | None = None,
) -> torch.Tensor:
    """Fine-tune the encoder's top layers and a cosine head; return the unit-length class weight matrix.

    `states` are the encoder's `lower_states` of the training texts. The head starts at the class
    centroids of the untuned sentence vectors. With `oos_class`, blends of two intents are taught as that class
    (`IntentConfig.mixup_weight`). Deterministic for a seed; the global random state is kept.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return _fine_tune(encoder, states, label_ids, n_classes, config, oos_class)


def _mixed_outliers(
    vectors: torch.Tensor, targets: torch.Tensor, oos_class: int, generator: torch.Generator
) -> torch.Tensor:
    """Synthetic out-of-scope vectors: blends of two in-scope vectors of different intents in the batch."""
    partner = torch.randperm(len(targets), generator=generator)
    keep = targets != targets[partner]
    keep &= (targets != oos_class) & (targets[partner] != oos_class)
    if not bool(keep.any()):
        return vectors[:0]
    share = 0.3 + 0.4 * torch.rand((int(keep.sum()), 1), generator=generator)
    mixed = share * vectors[keep] + (1 - share) * vectors[partner[keep]]
    return nn.functional.normalize(mixed, dim=-1)


def _fine_tune(
    encoder: IntentEncoder,
    states: Sequence[torch.Tensor],
    label_ids: Sequence[int],
    n_classes: int,
    config: IntentConfig,
    oos_class: int | None,
) -> torch.Tensor:
    generator = torch.Generator().manual_seed(config.seed)
    targets = torch.tensor(list(label_ids), dtype=torch.long)
    start = pooled(encoder, states)
    centroids = torch.zeros((n_classes, encoder.dimension)).index_add_(0, targets, start)
    weight = nn.Parameter(nn.functional.normalize(centroids, dim=-1))
    layers = encoder.top_layers
    if config.epochs == 0:
        return weight.detach()
    for parameter in layers.parameters():
        parameter.requires_grad_(True)
    optimiser = torch.optim.AdamW(
        [
            {"params": list(layers.parameters()), "lr": config.learning_rate},
            {"params": [weight], "lr": config.head_learning_rate, "weight_decay": 0.0},
        ],
        weight_decay=config.weight_decay,
    )
    lengths = [int(state.shape[0]) for state in states]
    per_epoch = math.ceil(len(states) / config.batch_size)
    epochs = max(config.epochs, math.ceil(config.min_steps / per_epoch))
    steps = epochs * per_epoch
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup)))
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    layers.train()
    try:
        for epoch in range(epochs):
            started, total = time.perf_counter(), 0.0
            for batch in _bucketed_batches(lengths, config.batch_size, generator):
                vectors = encoder.pool_top([states[i] for i in batch]) if len(layers) else start[batch]
                logits = config.scale * vectors @ nn.functional.normalize(weight, dim=-1).T
                loss = loss_fn(logits, targets[batch])
                if oos_class is not None and config.mixup_weight > 0:
                    mixed = _mixed_outliers(vectors, targets[batch], oos_class, generator)
                    if len(mixed):
                        mixed_logits = config.scale * mixed @ nn.functional.normalize(weight, dim=-1).T
                        wanted = torch.full((len(mixed),), oos_class, dtype=torch.long)
                        loss = loss + config.mixup_weight * loss_fn(mixed_logits, wanted)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                total += loss.item() * len(batch)
            seconds = time.perf_counter() - started
            logger.info("epoch %d/%d: loss %.4f in %.0f s", epoch + 1, epochs, total / len(states), seconds)
    finally:
        layers.eval()
        for parameter in layers.parameters():
            parameter.requires_grad_(False)
    return nn.functional.normalize(weight.detach(), dim=-1)
