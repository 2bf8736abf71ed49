"""Conversation context for retrieval: which subject (hotel, product, ...) the dialogue is about.

A knowledge base often holds documents about many *subjects* — a named `entity` in the documents'
metadata (a hotel, a store, a product model), or the prefix of titles such as "Acme Router X2 —
Resetting the device". Categories such as a `product` line are filters, not subjects: naming the
category ("my bike") must not narrow the search to it.
A follow-up like "and is there parking?" only makes sense with the subject named earlier in the
dialogue, so `SubjectTracker` finds the subject mentioned most recently in the question or the
turns before it, matching names loosely (case, punctuation, "&"/"and", partial names such as
"the Gonville" for "GONVILLE HOTEL") and weighing each name word by how rare it is among names.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from knowledge.documents import Chunk, Turn

DEFAULT_SUBJECT_KEYS: tuple[str, ...] = ("entity",)
TITLE_SEPARATORS: tuple[str, ...] = (" — ", " – ", " | ", " - ", ": ")

_WORD = re.compile(r"[a-z0-9]+")
# Words that never identify a subject on their own; they weigh nothing in a name.
_FUNCTION_WORDS = frozenset(
    "a an and at by de del des der di du el for from in la le les of on or the to van von with".split()
)


def normalize_words(text: str) -> list[str]:
    """Lower-case ASCII words of a text, with "&" read as "and", possessive "'s" and plural "s" dropped."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = text.replace("&", " and ")
    text = re.sub(r"['’]s\b", "", text)
    text = text.replace("'", "")
    return [_singular(word) for word in _WORD.findall(text)]


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@dataclass(frozen=True, slots=True)
class Subject:
    """A thing the knowledge base has documents about, and the documents about it."""

    name: str
    key: str | None
    document_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class SubjectMention:
    """Subjects named in the dialogue: those of the most recent turn naming any, and how far back it is."""

    subjects: tuple[Subject, ...]
    turns_back: int


_FUZZY_MIN_LENGTH = 5


def _deletions(word: str) -> set[str]:
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


def _title_prefix(title: str) -> str | None:
    for separator in TITLE_SEPARATORS:
        head, found, tail = title.partition(separator)
        if found and head.strip() and tail.strip():
            return head.strip()
    return None


def collect_subjects(chunks: Iterable[Chunk], keys: Sequence[str] = DEFAULT_SUBJECT_KEYS) -> list[Subject]:
    """The subjects of a chunk set: the values of the first metadata key in `keys` that takes at least
    two values, else title prefixes ("Subject — rest of title") shared by at least two documents."""
    chunks = list(chunks)
    for key in keys:
        by_value: dict[str, set[str]] = defaultdict(set)
        for chunk in chunks:
            value = chunk.metadata.get(key)
            if isinstance(value, str) and value.strip():
                by_value[value].add(chunk.document_id)
        if len(by_value) >= 2:
            return [Subject(name, key, frozenset(ids)) for name, ids in sorted(by_value.items())]
    by_prefix: dict[str, set[str]] = defaultdict(set)
    for chunk in chunks:
        prefix = _title_prefix(chunk.title)
        if prefix:
            by_prefix[prefix].add(chunk.document_id)
    shared = {name: ids for name, ids in by_prefix.items() if len(ids) >= 2}
    if len(shared) < 2:
        return []
    return [Subject(name, None, frozenset(ids)) for name, ids in sorted(shared.items())]


class SubjectTracker:
    """Finds the subjects a dialogue is about among a fixed set of subjects.

    A name matches where a run of consecutive words of the text equals a run of consecutive words
    of the name and carries at least `min_coverage` of the name's weight, or holds the name's first
    word that weighs anything, when no other name has that word and few subjects' texts do. A word weighs more the
    fewer subjects it is associated with (in their names or, when given, their documents' text):
    "gonville" identifies one hotel, "hotel", "city" or "star" identify none; function words weigh
    nothing. Compounds written apart or together ("guesthouse" / "guest house") match. When several
    names match overlapping words, only the best-covered ones count, so "Pizza Express" is not also
    read as "Pizza Express Fen Ditton".
    """

    def __init__(
        self,
        subjects: Sequence[Subject],
        *,
        subject_texts: Mapping[str, Iterable[str]] | None = None,
        vocabulary: Collection[str] = (),
        min_coverage: float = 0.6,
    ) -> None:
        if not 0 < min_coverage <= 1:
            msg = f"min_coverage must be in (0, 1], got {min_coverage}"
            raise ValueError(msg)
        self.subjects = tuple(subjects)
        self.min_coverage = min_coverage
        self._vocabulary = frozenset(vocabulary)
        raw_names = [normalize_words(s.name) for s in self.subjects]
        self._compounds = {a + b: (a, b) for words in raw_names for a, b in zip(words, words[1:], strict=False)}
        self._names = [self._split(words) for words in raw_names]
        name_words = {w for words in self._names for w in words}
        spread: dict[str, set[int]] = defaultdict(set)
        for index, words in enumerate(self._names):
            for word in words:
                spread[word].add(index)
        if subject_texts:
            position = {s.name: i for i, s in enumerate(self.subjects)}
            for name, texts in subject_texts.items():
                owner = position.get(name)
                if owner is None:
                    continue
                for text in texts:
                    for word in name_words.intersection(self._split(normalize_words(text))):
                        spread[word].add(owner)
        total = max(len(self.subjects), 1)
        self._weight = {
            word: 0.0 if word in _FUNCTION_WORDS else math.log(1 + total / len(owners))
            for word, owners in spread.items()
        }
        self._name_weight = [sum(self._weight[w] for w in words) for words in self._names]
        self._where: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for index, words in enumerate(self._names):
            for position_in_name, word in enumerate(words):
                if self._weight[word] > 0:
                    self._where[word].append((index, position_in_name))
        # a word at least this heavy is found with at most ~sqrt(n) of n subjects
        self._distinctive = 0.5 * math.log(1 + total)
        self._head = [next((i for i, w in enumerate(words) if self._weight[w] > 0), None) for words in self._names]
        # one-edit spelling variants of long name words ("Goonville", "Flinches"), by their deletions
        self._near: dict[str, set[str]] = defaultdict(set)
        for word in self._where:
            if len(word) >= _FUZZY_MIN_LENGTH:
                for variant in _deletions(word):
                    self._near[variant].add(word)

    @classmethod
    def from_chunks(
        cls, chunks: Sequence[Chunk], keys: Sequence[str] = DEFAULT_SUBJECT_KEYS, *, min_coverage: float = 0.6
    ) -> SubjectTracker:
        """A tracker of the subjects of a chunk set (see `collect_subjects`), weighing words by their texts
        and correcting the spelling of words that no chunk contains."""
        subjects = collect_subjects(chunks, keys)
        owner = subjects_by_document(subjects)
        texts: dict[str, list[str]] = defaultdict(list)
        vocabulary: set[str] = set()
        for chunk in chunks:
            vocabulary.update(normalize_words(f"{chunk.title} {chunk.text}"))
            subject = owner.get(chunk.document_id)
            if subject is not None:
                texts[subject.name].append(chunk.text)
        return cls(subjects, subject_texts=texts, vocabulary=vocabulary, min_coverage=min_coverage)

    def _canonical(self, word: str) -> str:
        """The name word a text word stands for: itself, or, for a word unknown to the knowledge base,
        the only name word one edit away."""
        if word in self._where or word in self._vocabulary or len(word) < _FUZZY_MIN_LENGTH:
            return word
        candidates: set[str] = set()
        for variant in _deletions(word):
            candidates |= self._near.get(variant, set())
        candidates = {c for c in candidates if abs(len(c) - len(word)) <= 1}
        return candidates.pop() if len(candidates) == 1 else word

    def _split(self, words: list[str]) -> list[str]:
        out: list[str] = []
        for word in words:
            out.extend(self._compounds.get(word, (word,)))
        return out

    def __bool__(self) -> bool:
        return bool(self.subjects)

    def find(self, text: str) -> list[Subject]:
        """The subjects named in one text, in the order they are named."""
        words = [self._canonical(w) for w in self._split(normalize_words(text))]
        best: dict[int, tuple[float, int, int]] = {}
        for start, word in enumerate(words):
            for index, position in self._where.get(word, ()):
                name = self._names[index]
                begin, first = start, position
                while begin > 0 and first > 0 and words[begin - 1] == name[first - 1]:
                    begin, first = begin - 1, first - 1
                end, last = start + 1, position + 1
                while end < len(words) and last < len(name) and words[end] == name[last]:
                    end, last = end + 1, last + 1
                weight = sum(self._weight[w] for w in name[first:last])
                coverage = weight / self._name_weight[index] if self._name_weight[index] else 0.0
                # people shorten a name to its head word ("the Gonville"): enough when no other name has it
                head = self._head[index]
                named_by_head = (
                    head is not None
                    and first <= head < last
                    and len(self._where[name[head]]) == 1
                    and self._weight[name[head]] >= self._distinctive
                )
                if (coverage >= self.min_coverage or named_by_head) and coverage > best.get(index, (0.0, 0, 0))[0]:
                    best[index] = (coverage, begin, end)
        if not best:
            return []
        kept = [
            index
            for index, (coverage, begin, end) in best.items()
            if not any(
                other != index
                and o_begin < end
                and begin < o_end
                and (o_cov, o_end - o_begin) > (coverage, end - begin)
                for other, (o_cov, o_begin, o_end) in best.items()
            )
        ]
        kept.sort(key=lambda i: best[i][1])
        return [self.subjects[i] for i in kept]

    def track(self, question: str, history: Sequence[Turn] = ()) -> SubjectMention | None:
        """The subjects of the most recent text naming any: the question, else the latest earlier turn."""
        if not self.subjects:
            return None
        texts = [question, *(turn.text for turn in reversed(history))]
        for turns_back, text in enumerate(texts):
            found = self.find(text)
            if found:
                return SubjectMention(tuple(found), turns_back)
        return None


def recent_customer_text(history: Sequence[Turn], turns: int = 1) -> str:
    """The last `turns` customer turns of the history, oldest first, joined by spaces."""
    said = [turn.text for turn in history if turn.role == "customer"]
    return " ".join(said[-turns:]) if turns > 0 else ""


def subjects_by_document(subjects: Iterable[Subject]) -> Mapping[str, Subject]:
    """Each document id mapped to its subject."""
    return {doc_id: subject for subject in subjects for doc_id in subject.document_ids}
