"""The offline question rewriter: a follow-up borrows the words of the customer's previous question."""

from __future__ import annotations

import re
from collections.abc import Sequence

from knowledge.documents import Turn
from knowledge.lexical import tokenize

_FOLLOW_UP = re.compile(
    r"^\s*(and|also|what about|how about|and what|but|then|so|what if|is it|are they|does it|do they|can i|"
    r"und|et|y)\b|\b(it|its|they|them|their|there|that|this|those|these|one|same)\b",
    re.IGNORECASE,
)


class OfflineRewriter:
    """Deterministic rewrite: a short or referring follow-up is joined with the previous customer question.

    "and is there parking?" after "Where is the Lakeview store?" becomes
    "and is there parking? (Where is the Lakeview store?)", which retrieval and the extractive writer
    read with the context they need. A message that stands on its own is returned unchanged.
    """

    def __init__(self, *, max_words: int = 8) -> None:
        self.max_words = max_words

    async def rewrite(self, message: str, history: Sequence[Turn]) -> str:
        return self.rewrite_now(message, history)

    def rewrite_now(self, message: str, history: Sequence[Turn]) -> str:
        previous = next((t.text for t in reversed(history) if t.role == "customer"), None)
        if previous is None:
            return message
        short = len(tokenize(message)) <= self.max_words
        if not (short and _FOLLOW_UP.search(message)):
            return message
        return f"{message.strip()} ({previous.strip()})"
