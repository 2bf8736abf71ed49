"""Deeply nested HTML made shallow before it is parsed, so that parsing stays linear in the page's length.

HTML's tree builder looks down the stack of open elements for many start tags (a block start tag closes an open
`<p>` "in button scope"), so a page nested n deep costs time in n squared: 100k characters of `<ul>` took 0.7 s,
and a 20 MB page (the largest a fetch accepts) would take hours. Tags of elements nested deeper than
`MAX_HTML_DEPTH` are removed here, their text kept. (`channels.email.bodies` does the same for e-mail; the two
packages may not import each other.)
"""

from __future__ import annotations

import re

__all__ = ["MAX_HTML_DEPTH", "bounded_depth"]

MAX_HTML_DEPTH = 64
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]{0,40})(?:[\s/][^<>]{0,4000})?>")
# Tags that never hold others (void) or that the parser closes by itself when a sibling starts (optional end
# tags): they cannot nest deeply on their own, so they are not counted. (<optgroup>, <rb>, <rt>, <rp> and <rtc>
# outside their parents do nest, so they are.)
_UNCOUNTED_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
    | {"p", "li", "dt", "dd", "option", "tr", "td", "th", "thead", "tbody", "tfoot", "colgroup", "caption", "html"}
    | {"head", "body"}
)


def bounded_depth(html: str, max_depth: int = MAX_HTML_DEPTH) -> str:
    """`html` with the tags of elements nested deeper than `max_depth` removed (their text is kept), in one pass.

    Depth is counted from the tags as written; each counted element holds at most three uncounted ones (a table's
    implied tbody, tr and td), so the parser's stack stays under about four times `max_depth`.
    """
    if html.count("<") <= max_depth:
        return html
    depth = 0

    def keep_or_drop(tag: re.Match[str]) -> str:
        nonlocal depth
        if tag.group(2).lower() in _UNCOUNTED_TAGS:
            return tag.group()
        if tag.group(1):  # an end tag
            depth = max(0, depth - 1)
            return tag.group() if depth < max_depth else " "
        depth += 1
        return tag.group() if depth <= max_depth else " "

    return _TAG.sub(keep_or_drop, html)
