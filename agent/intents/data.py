"""Labelled messages: reading `text,label` (or HINT3's `sentence,label`) CSV files, and the out-of-scope label."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

OOS_LABEL = "oos"
# labels that mean "out of scope" in the data sets we read (HINT3 calls it NO_NODES_DETECTED)
OOS_ALIASES = frozenset({"oos", "NO_NODES_DETECTED", "out_of_scope"})
TEXT_COLUMNS = ("text", "sentence")
LABEL_COLUMNS = ("label", "intent", "category")


class IntentDataError(ValueError):
    """A labelled-messages file or list that cannot be used for training or evaluation."""


@dataclass(frozen=True, slots=True)
class LabelledMessages:
    """Messages and their intent labels, with every out-of-scope alias turned into `OOS_LABEL`."""

    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def normalise_label(label: str) -> str:
    """The label itself, or `OOS_LABEL` for any out-of-scope alias."""
    label = label.strip()
    return OOS_LABEL if label in OOS_ALIASES or label.lower() == OOS_LABEL else label


def _pick_column(fields: Sequence[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {name.strip().lower(): name for name in fields if name is not None}
    for name in wanted:
        if name in lowered:
            return lowered[name]
    return None


def load_labelled_csv(path: Path) -> LabelledMessages:
    """Read a CSV with a header naming a text column (`text` or `sentence`) and a `label` column.

    Extra columns (such as HINT3's empty third one) are ignored and blank lines skipped. Raises
    `IntentDataError` naming the file (and line) when a column is missing or a row has no text or label.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            text_col = _pick_column(fields, TEXT_COLUMNS)
            label_col = _pick_column(fields, LABEL_COLUMNS)
            if text_col is None or label_col is None:
                missing = "a text column ('text' or 'sentence')" if text_col is None else "a 'label' column"
                msg = f"{path}: the header {fields!r} lacks {missing}; expected a header such as 'text,label'"
                raise IntentDataError(msg)
            texts: list[str] = []
            labels: list[str] = []
            for row in reader:
                text, label = row.get(text_col), row.get(label_col)
                if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
                    continue
                if text is None or not text.strip() or label is None or not label.strip():
                    msg = f"{path} line {reader.line_num}: a row needs both a text and a label, got {row!r}"
                    raise IntentDataError(msg)
                texts.append(text.strip())
                labels.append(normalise_label(label))
    except OSError as exc:
        msg = f"{path}: cannot read the labelled messages ({exc.strerror or exc})"
        raise IntentDataError(msg) from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        msg = f"{path}: not a readable UTF-8 CSV file ({exc})"
        raise IntentDataError(msg) from exc
    if not texts:
        msg = f"{path}: no labelled messages in the file"
        raise IntentDataError(msg)
    return LabelledMessages(texts=texts, labels=labels)
