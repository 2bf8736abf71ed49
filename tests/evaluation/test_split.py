"""The stratified split: each label's share held out, the same every time, nothing in both parts."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from agent.intents import load_labelled_csv
from evaluation.split import main, stratified_split


def test_each_label_keeps_its_share_and_the_seed_fixes_the_split() -> None:
    texts = [f"message {i}" for i in range(60)]
    labels = ["a"] * 40 + ["b"] * 15 + ["c"] * 5
    train, test = stratified_split(texts, labels, share=0.2, seed=0)
    assert Counter(label for _, label in test) == {"a": 8, "b": 3, "c": 1}
    assert sorted(train + test) == sorted(zip(texts, labels, strict=True))
    assert stratified_split(texts, labels, share=0.2, seed=0) == (train, test)
    assert stratified_split(texts, labels, share=0.2, seed=1)[1] != test


def test_the_command_writes_both_files_and_refuses_a_bad_share(tmp_path: Path, shared_data: Path) -> None:
    main([str(shared_data / "banking77" / "train.csv"), "--out", str(tmp_path)])
    with (tmp_path / "test.csv").open(encoding="utf-8", newline="") as handle:
        test = list(csv.DictReader(handle))
    with (tmp_path / "train.csv").open(encoding="utf-8", newline="") as handle:
        train = list(csv.DictReader(handle))
    assert len({row["label"] for row in test}) == 77
    assert abs(len(test) / (len(test) + len(train)) - 0.2) < 0.01
    source = load_labelled_csv(shared_data / "banking77" / "train.csv")
    rows = Counter((row["text"], row["label"]) for row in train + test)
    assert rows == Counter(zip(source.texts, source.labels, strict=True)), "every row in exactly one part"
    with pytest.raises(SystemExit):
        main([str(shared_data / "banking77" / "train.csv"), "--out", str(tmp_path), "--share", "1.5"])
