"""Out-of-scope recognition on HINT3 without its kept-back test sets: a stand-in built from the training sets.

HINT3's test sets (real user messages, many out of scope) are not in the shared data. As a stand-in, for each
bot a quarter of its intents (chosen with the seed) are held out: their messages play unseen in-domain topics
the bot was not built for. A fifth of the remaining messages is kept back as in-scope test messages. Three
more kinds play out-of-scope messages from elsewhere: the two other bots' training messages, leaving out
their intents this bot answers too (`COVERED`: cancelling an order is a request to Curekart as much as to
SOFMattress); CLINC150's validation out-of-scope requests (the bundled background holds only its training
ones); and customers' turns of DSTC11's hotel and restaurant dialogues. The classifier is trained on the
rest, with the defaults (background messages and blends of two intents taught as out of scope), without the
blends (the out-of-scope class winning by any margin), and without the background, in the same run.

Run: .venv/bin/python -m evaluation.oos_proxy [--data ../shared/data/hint3] [--seed 0] [--bots sofmattress ...]
Prints one JSON object: per bot and variant, in-scope accuracy (right intent and not rejected) and the share
of each kind of stand-in out-of-scope message recognised as out of scope.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.intents import OOS_LABEL, IntentClassifier, IntentConfig, load_labelled_csv
from knowledge.embeddings import Embedder, SentenceTransformerEmbedder

BOTS = ("sofmattress", "curekart", "powerplay11")
OTHER_BOT_MESSAGES = 60
GENERAL_MESSAGES = 100
# For each bot, the other bots' intents it answers too (or partly: SOFMattress's LEAD_GEN mixes "call me back"
# with "I want to buy"), judged from the intents' training messages. Their messages are not out of scope.
COVERED: dict[str, frozenset[str]] = {
    "curekart": frozenset(
        {
            "sofmattress/CANCEL_ORDER",
            "sofmattress/ORDER_STATUS",
            "sofmattress/CHECK_PINCODE",
            "sofmattress/COD",
            "sofmattress/DELAY_IN_DELIVERY",
            "sofmattress/RETURN_EXCHANGE",
            "sofmattress/DISTRIBUTORS",
            "sofmattress/LEAD_GEN",
            "powerplay11/CHAT_WITH_AN_AGENT",
            "powerplay11/CONTACT_NUMBER",
            "powerplay11/OFFERS_AND_REFERRALS",
        }
    ),
    "sofmattress": frozenset(
        {
            "curekart/CANCEL_ORDER",
            "curekart/ORDER_STATUS",
            "curekart/CHECK_PINCODE",
            "curekart/DELAY_IN_PARCEL",
            "curekart/REFUNDS_RETURNS_REPLACEMENTS",
            "curekart/STORE_INFORMATION",
            "curekart/CHAT_WITH_AGENT",
            "curekart/CALL_CENTER",
            "curekart/ORDER_TAKING",
            "curekart/MODES_OF_PAYMENTS",
            "powerplay11/CHAT_WITH_AN_AGENT",
            "powerplay11/CONTACT_NUMBER",
        }
    ),
    "powerplay11": frozenset(
        {
            "curekart/CHAT_WITH_AGENT",
            "curekart/CALL_CENTER",
            "curekart/REFER_EARN",
            "sofmattress/LEAD_GEN",
        }
    ),
}
DIGITS = 4


@dataclass(frozen=True, slots=True)
class Split:
    """Training messages, in-scope test messages, and stand-in out-of-scope messages by kind."""

    train: list[tuple[str, str]]
    in_scope: list[tuple[str, str]]
    out_of_scope: dict[str, list[str]]


def split_bot(data: Path, bot: str, seed: int) -> Split:
    """The stand-in split of one bot (see the module docstring)."""
    labelled = load_labelled_csv(data / f"{bot}_train.csv")
    rng = random.Random(seed)
    intents = sorted(set(labelled.labels))
    rng.shuffle(intents)
    held_out = set(intents[: max(2, len(intents) // 4)])
    train: list[tuple[str, str]] = []
    in_scope: list[tuple[str, str]] = []
    unseen: list[str] = []
    for text, label in zip(labelled.texts, labelled.labels, strict=True):
        if label in held_out:
            unseen.append(text)
        elif rng.random() < 0.2:
            in_scope.append((text, label))
        else:
            train.append((text, label))
    others: list[str] = []
    covered = COVERED.get(bot, frozenset())
    for other in BOTS:
        if other != bot and (data / f"{other}_train.csv").exists():
            theirs = load_labelled_csv(data / f"{other}_train.csv")
            foreign = [
                text
                for text, label in zip(theirs.texts, theirs.labels, strict=True)
                if f"{other}/{label}" not in covered
            ]
            others += rng.sample(foreign, OTHER_BOT_MESSAGES)
    kinds = {"unseen_intents": unseen, "other_bots": others}
    clinc = data.parent / "clinc150" / "val.csv"
    if clinc.exists():
        requests = load_labelled_csv(clinc)
        kinds["general_requests"] = rng.sample(
            [text for text, label in zip(requests.texts, requests.labels, strict=True) if label == OOS_LABEL],
            GENERAL_MESSAGES,
        )
    dialogues = data.parent / "dstc11" / "turns_dev.jsonl"
    if dialogues.exists():
        with dialogues.open(encoding="utf-8") as lines:
            turns = sorted({json.loads(line)["question"] for line in lines if line.strip()})
        kinds["hotel_and_restaurant_chat"] = rng.sample(turns, GENERAL_MESSAGES)
    return Split(train, in_scope, kinds)


def measure(split: Split, embedder: Embedder, config: IntentConfig) -> dict[str, object]:
    """Train on the split and measure in-scope accuracy and out-of-scope recall by kind."""
    classifier = IntentClassifier.train(
        [text for text, _ in split.train], [label for _, label in split.train], embedder=embedder, config=config
    )
    in_scope = classifier.predict_many([text for text, _ in split.in_scope])
    result: dict[str, object] = {
        "in_scope_accuracy": round(
            sum(p.intent == label for p, (_, label) in zip(in_scope, split.in_scope, strict=True)) / len(in_scope),
            DIGITS,
        ),
        "n_in_scope": len(in_scope),
    }
    for kind, texts in split.out_of_scope.items():
        predictions = classifier.predict_many(texts)
        result[f"oos_recall_{kind}"] = round(sum(p.out_of_scope for p in predictions) / len(texts), DIGITS)
        result[f"n_{kind}"] = len(texts)
    result["train_seconds"] = classifier.summary.get("train_seconds")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/hint3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bots", nargs="+", default=list(BOTS))
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} is not a folder with HINT3's <bot>_train.csv files")
    embedder = SentenceTransformerEmbedder()
    report: dict[str, object] = {"seed": args.seed}
    for bot in args.bots:
        split = split_bot(args.data, bot, args.seed)
        report[bot] = {
            "background": measure(split, embedder, IntentConfig()),
            "no_blends": measure(split, embedder, IntentConfig(mixup_weight=0.0, oos_margin=1.0)),
            "no_background": measure(split, embedder, IntentConfig(background=False)),
        }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
