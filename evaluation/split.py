"""A stratified split of a labelled CSV, to measure intents on messages the classifier did not train on.

Each label's messages (in file order) are shuffled with one `random.Random(seed)`, taking the labels in sorted
order, and the first `round(share * n)` of them are held out as test messages. The same file, share and seed
always give the same split.

Run: .venv/bin/python -m evaluation.split ../shared/data/banking77/train.csv --out DIR [--share 0.2] [--seed 0]
Writes DIR/train.csv and DIR/test.csv (`text,label`) and prints their sizes.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

from agent.intents import IntentDataError, load_labelled_csv

Rows = list[tuple[str, str]]


def stratified_split(texts: list[str], labels: list[str], *, share: float, seed: int) -> tuple[Rows, Rows]:
    """(train, test) rows: `share` of each label's messages, chosen with `seed`, held out as test."""
    if not 0 < share < 1:
        msg = f"the test share must lie between 0 and 1, got {share}"
        raise ValueError(msg)
    by_label: dict[str, list[str]] = {}
    for text, label in zip(texts, labels, strict=True):
        by_label.setdefault(label, []).append(text)
    rng = random.Random(seed)
    train: Rows = []
    test: Rows = []
    for label in sorted(by_label):
        messages = list(by_label[label])
        rng.shuffle(messages)
        held = round(share * len(messages))
        test += [(text, label) for text in messages[:held]]
        train += [(text, label) for text in messages[held:]]
    return train, test


def _write(path: Path, rows: Rows) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="labelled messages (text,label CSV)")
    parser.add_argument("--out", type=Path, required=True, help="folder for train.csv and test.csv")
    parser.add_argument("--share", type=float, default=0.2, help="share of each label held out (default 0.2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        messages = load_labelled_csv(args.data)
        train, test = stratified_split(messages.texts, messages.labels, share=args.share, seed=args.seed)
    except (IntentDataError, ValueError, OSError) as exc:
        parser.error(str(exc))
    args.out.mkdir(parents=True, exist_ok=True)
    _write(args.out / "train.csv", train)
    _write(args.out / "test.csv", test)
    sys.stdout.write(f"{len(train)} training and {len(test)} test messages in {args.out}\n")


if __name__ == "__main__":
    main()
