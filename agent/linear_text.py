"""Text work whose cost cannot be blown up by its input: the scan prefix, and patterns searched in linear time.

`SCAN_CHARS` is how much of a message the classifiers (injection, sentiment, escalation cues, the knowledge gate)
read: 4,000 characters, the longest message the chat and console APIs accept, so a chat message is always read
whole; a longer text (an e-mail with its quoted thread) is judged on its start, and the agent answers from that same
start (see `agent.agent`), so nothing the detector did not read reaches a model.

`LinearPattern` searches with RE2 (`google-re2`), whose automaton runs in time linear in the text. RE2 has no
lookarounds: a pattern that needs them is searched in its loose form (the lookarounds dropped, so it matches
wherever the exact one does), and each loose match is confirmed by the exact pattern on a window of bounded size
around it, so the cost stays linear.
"""

from __future__ import annotations

import re
from typing import Any

import re2

__all__ = ["SCAN_CHARS", "LinearPattern", "compile_re2", "scan_prefix", "to_re2"]

SCAN_CHARS = 4000
"""How many characters of a message the agent's classifiers read (and the agent answers from)."""


def scan_prefix(text: str) -> str:
    """The part of `text` the classifiers read: its first `SCAN_CHARS` characters."""
    return text if len(text) <= SCAN_CHARS else text[:SCAN_CHARS]


# Python's Unicode classes spelled for RE2 (whose \w, \d and \s are ASCII only); \b stays ASCII in RE2.
_SPACE = r"\t\n\v\f\r \x{1c}-\x{1f}\x{85}\pZ"
_OUTSIDE = {
    "w": r"[\pL\pN_]", "W": r"[^\pL\pN_]", "d": r"\p{Nd}", "D": r"\P{Nd}", "s": f"[{_SPACE}]", "S": f"[^{_SPACE}]"
}  # fmt: skip
_INSIDE = {"w": r"\pL\pN_", "d": r"\p{Nd}", "s": _SPACE}
_LOOKAROUND = ("(?=", "(?!", "(?<=", "(?<!")


def to_re2(pattern: str) -> str:
    """A Python `re` pattern respelled for RE2: Unicode \\w, \\d, \\s (as Python reads them) and \\Z as \\z."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            table = _INSIDE if in_class else _OUTSIDE
            if nxt in table:
                out.append(table[nxt])
            elif in_class and nxt in "WDS":
                msg = f"\\{nxt} inside a character class has no RE2 spelling, in {pattern!r}"
                raise ValueError(msg)
            elif nxt == "Z" and not in_class:
                out.append(r"\z")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            # A "]" right after "[" or "[^" is a literal member.
            if pattern.startswith("^", i + 1):
                out.append("^")
                i += 1
            if pattern.startswith("]", i + 1):
                out.append(r"\]")
                i += 1
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _without_lookarounds(pattern: str) -> str:
    """`pattern` with every lookaround group removed: it matches wherever the pattern does (and maybe more)."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            if pattern.startswith("^", i + 1):
                out.append("^")
                i += 1
            if pattern.startswith("]", i + 1):
                out.append("]")
                i += 1
            i += 1
            continue
        if ch == "(" and pattern.startswith(_LOOKAROUND, i):
            i = _group_end(pattern, i)
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _group_end(pattern: str, start: int) -> int:
    """The index just past the group that opens at `start`."""
    depth, i, in_class = 0, start, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern.startswith("^", i + 1):
                i += 1
            if pattern.startswith("]", i + 1):
                i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    msg = f"unbalanced group at {start} in {pattern!r}"
    raise ValueError(msg)


def _options(flags: int) -> str:
    inline = ("i" if flags & re.IGNORECASE else "") + ("m" if flags & re.MULTILINE else "")
    return inline + ("s" if flags & re.DOTALL else "")


def compile_re2(pattern: str, flags: int = 0) -> Any:
    """An RE2 pattern (with `search`, `finditer`, `sub`...) for a Python pattern that has no lookarounds.

    Its matches are Python's (RE2 prefers alternatives and repeats the way a backtracking engine does), except
    that \\b is ASCII-only. Each call re-encodes the text and each match costs a few microseconds, so use it
    where matches are few and a backtracking search could be slow.
    """
    inline = _options(flags)
    options = re2.Options()
    options.max_mem = 64 << 20
    return re2.compile((f"(?{inline})" if inline else "") + to_re2(pattern), options)


class LinearPattern:
    """A pattern written for Python's `re` whose `search` runs in time linear in the text.

    `flags` takes `re.IGNORECASE`, `re.MULTILINE` and `re.DOTALL`. Matches are those of the exact pattern; for a
    pattern with lookarounds, a match must fit in `window` characters around a match of its loose form, and after
    `max_checks` loose matches that the exact pattern refuses, the pattern counts as matching (a text built to
    wear the check out is not given the benefit of the doubt).
    """

    def __init__(self, pattern: str, flags: int = 0, *, window: int = 256, max_checks: int = 16) -> None:
        if flags & ~(re.IGNORECASE | re.MULTILINE | re.DOTALL):
            msg = f"only IGNORECASE, MULTILINE and DOTALL are supported, got flags={flags!r}"
            raise ValueError(msg)
        self.pattern = pattern
        self.flags = flags
        self.window = window
        self.max_checks = max_checks
        self.exact: re.Pattern[str] | None = None
        if any(marker in pattern for marker in _LOOKAROUND):
            self.exact = re.compile(pattern, flags)
            loose = _without_lookarounds(pattern)
        else:
            loose = pattern
        self._re2: Any = compile_re2(loose, flags)

    @property
    def needs_check(self) -> bool:
        """True when RE2's matches are confirmed by the exact pattern (it has lookarounds)."""
        return self.exact is not None

    def search_bytes(self, encoded: bytes) -> bool:
        """Whether the loose pattern matches the UTF-8 `encoded` text (exact when `needs_check` is False)."""
        return self._re2.search(encoded) is not None

    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in `text`."""
        if self.exact is None:
            return self._re2.search(text) is not None
        checks = 0
        for loose in self._re2.finditer(text):
            start, end = loose.span()
            lo = max(0, start - self.window)
            hi = min(len(text), min(end, start + 4 * self.window) + self.window)
            if self.exact.search(text, lo, hi) is not None:
                return True
            checks += 1
            if checks >= self.max_checks:
                return True
        return False
