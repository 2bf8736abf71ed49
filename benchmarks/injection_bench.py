"""Prompt-injection detector benchmark: recall and false positives on labelled sets, false positives on real messages.

Run:
    .venv/bin/python benchmarks/injection_bench.py \
        --set tests/agent/injection_blind.jsonl --set tests/agent/injection_blind2.jsonl \
        --set tests/agent/injection_blind3.jsonl \
        --real ../shared/data/banking77/train.csv ../shared/data/clinc150/train.csv ../shared/data/hint3/*_train.csv

A labelled set is JSON lines `{"text": ..., "injection": true|false}`; a real-data file is any CSV whose first
column is a customer message (a header row is skipped). For labelled sets only the counts are printed unless
`--show-misses` is given (keep blind sets blind); the flagged real messages are always printed. `--rules-only`
leaves the bag-of-words model out. That model was fitted to every other message of the Banking77 and CLINC150
training files, so false positives on those two files are partly in-sample; HINT3 was held out.
Timing is the detector's mean, median and 99th-percentile time per message over the real messages, each message
timed as the best of three calls (the machine is shared: one call alone also measures whoever else is running).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path

from agent.guardrails import InjectionVerdict, detect_injection
from agent.injection_model import LexicalModel

REPEATS = 3
NO_LEXICON = LexicalModel(weights={}, bias=-30.0)
"""A bag-of-words model that never fires: the rules alone."""


def judge(text: str, model: LexicalModel | None) -> InjectionVerdict:
    """The detector's verdict with `model` (None: the shipped one)."""
    return detect_injection(text, model=model)


def labelled(path: Path) -> list[tuple[str, bool]]:
    """The (text, is_injection) rows of a JSON-lines file."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(str(row["text"]), bool(row["injection"])) for row in rows]


def messages(path: Path) -> list[str]:
    """The first column of a CSV file, without its header."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return [row[0] for row in rows[1:] if row and row[0].strip()]


def evaluate_set(path: Path, *, show_misses: bool, model: LexicalModel | None) -> None:
    rows = labelled(path)
    attacks = [text for text, injection in rows if injection]
    benign = [text for text, injection in rows if not injection]
    missed = [text for text in attacks if not judge(text, model).suspicious]
    flagged = [text for text in benign if judge(text, model).suspicious]
    recall = 1 - len(missed) / len(attacks) if attacks else 0.0
    print(
        f"{path}: attacks {len(attacks)}, caught {len(attacks) - len(missed)}, recall {recall:.3f}; "
        f"benign {len(benign)}, flagged {len(flagged)}, false-positive rate {len(flagged) / max(1, len(benign)):.3f}"
    )
    if show_misses:
        for text in missed:
            print(f"  MISSED  {text!r}")
        for text in flagged:
            verdict = judge(text, model)
            print(f"  FLAGGED {verdict.score:.2f} {verdict.signals} {text!r}")


def evaluate_real(paths: list[Path], *, model: LexicalModel | None) -> list[float]:
    timings: list[float] = []
    total_flagged = 0
    total = 0
    for path in paths:
        texts = messages(path)
        flagged: list[tuple[str, float, tuple[str, ...]]] = []
        for text in texts:
            best = float("inf")
            for _ in range(REPEATS):
                start = time.perf_counter()
                verdict = judge(text, model)
                best = min(best, time.perf_counter() - start)
            timings.append(best)
            if verdict.suspicious:
                flagged.append((text, verdict.score, verdict.signals))
        total += len(texts)
        total_flagged += len(flagged)
        print(f"{path}: {len(texts)} messages, {len(flagged)} flagged")
        for text, score, signals in flagged:
            print(f"  FLAGGED {score:.2f} {signals} {text!r}")
    print(f"real messages: {total}, flagged {total_flagged}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", dest="sets", action="append", type=Path, default=[], help="labelled JSON lines")
    parser.add_argument("--real", nargs="*", type=Path, default=[], help="CSV files of real customer messages")
    parser.add_argument("--show-misses", action="store_true", help="print missed attacks and flagged benign rows")
    parser.add_argument("--rules-only", action="store_true", help="leave the bag-of-words model out")
    args = parser.parse_args()
    model = NO_LEXICON if args.rules_only else None
    for path in args.sets:
        evaluate_set(path, show_misses=args.show_misses, model=model)
    if args.real:
        timings = evaluate_real(args.real, model=model)
        ordered = sorted(timings)
        p99 = ordered[int(0.99 * (len(ordered) - 1))]
        print(
            f"time per message: mean {statistics.fmean(timings) * 1e3:.3f} ms, "
            f"median {statistics.median(timings) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms"
        )


if __name__ == "__main__":
    main()
