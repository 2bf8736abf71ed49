"""Loaders: turn files (Markdown, HTML, PDF, plain text, JSONL exports) into `Document`s.

Each loader reads one file and returns its documents; `load_file` picks the loader by suffix.
The `parse_*` functions do the same from text or bytes already in memory (`knowledge.web` uses them).
`iter_source_documents` is the one entry point for ingestion: a file, a folder, a URL or a sitemap.
Failures are raised as `DocumentLoadError` / `UnsupportedSourceError` naming the file and the reason.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from selectolax.lexbor import LexborHTMLParser, LexborNode

from knowledge.chunking import blocks_from_paragraphs
from knowledge.documents import Block, Document, Metadata, MetadataValue
from knowledge.errors import DocumentLoadError, KnowledgeError, UnsupportedSourceError
from knowledge.html_depth import bounded_depth

if TYPE_CHECKING:
    import httpx

Loader = Callable[[Path], list[Document]]

# Lists and tables shorter than this stay one block; longer ones are cut into runs of rows/items.
GROUP_LIMIT = 600
_TITLE_LIMIT = 120
_WHITESPACE = re.compile(r"\s+")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


# -- text ---------------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DocumentLoadError(str(path), f"cannot read the file ({exc.strerror or exc})") from exc


def decode_text(raw: bytes, source: str, encoding: str | None = None) -> str:
    """Bytes as text (the given encoding, a BOM, UTF-8, else Latin-1); binary data raises `DocumentLoadError`."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DocumentLoadError(source, "not valid UTF-16 text") from exc
    sample = raw[:8192]
    if b"\x00" in sample:
        raise DocumentLoadError(source, "looks like binary data, not text")
    text: str | None = None
    if encoding:
        try:
            text = raw.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            text = None
    if text is None:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    head = text[:4096]
    control = sum(1 for char in head if ord(char) < 32 and char not in "\t\n\r\f")
    if head and control / len(head) > 0.05:
        raise DocumentLoadError(source, "looks like binary data, not text")
    return text


def _read_text(path: Path) -> str:
    return decode_text(_read_bytes(path), str(path))


def _collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _title_from_stem(path: Path) -> str:
    return path.stem.replace("-", " ").replace("_", " ").strip() or path.name


def _group_lines(lines: list[str], *, header: str | None = None, limit: int = GROUP_LIMIT) -> list[str]:
    """Lines (list items, table rows) as few blocks as fit `limit`; a table header repeats in every block."""
    groups: list[list[str]] = []
    current: list[str] = []
    size = len(header) + 1 if header else 0
    for line in lines:
        if current and size + len(line) + 1 > limit:
            groups.append(current)
            current, size = [], len(header) + 1 if header else 0
        current.append(line)
        size += len(line) + 1
    if current:
        groups.append(current)
    if header and not groups:
        groups.append([])
    return ["\n".join([header, *group] if header else group) for group in groups]


class _Outline:
    """Blocks collected in document order under the current path of headings."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._stack: list[tuple[int, str]] = []

    @property
    def headings(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._stack)

    def heading(self, level: int, text: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        if text:
            self._stack.append((level, text))

    def add(self, text: str) -> None:
        text = text.strip("\n")
        if text.strip():
            self.blocks.append(Block(text=text, headings=self.headings))


def _no_content(source: str) -> DocumentLoadError:
    return DocumentLoadError(source, "has no text content")


# -- JSONL and plain text -----------------------------------------------------------------------


def _flat_metadata(value: object, source: str) -> Metadata:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DocumentLoadError(source, f"'metadata' must be an object, got {type(value).__name__}")
    flat: dict[str, MetadataValue] = {}
    for key, item in value.items():
        if isinstance(item, str | int | float | bool):
            flat[str(key)] = item
        elif item is not None:
            flat[str(key)] = json.dumps(item, ensure_ascii=False, sort_keys=True)
    return flat


def iter_jsonl_objects(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each non-blank line of a JSONL file as `("<file> line N", object)`.

    Raises `DocumentLoadError` naming the file (and line) when it cannot be read, a line is not JSON,
    or a line is not a JSON object.
    """
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DocumentLoadError(where, f"not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise DocumentLoadError(where, "each line must be a JSON object")
        yield where, record


def load_jsonl(path: Path) -> list[Document]:
    """A knowledge-base export: one `{"id","title","text","url","metadata"}` object a line."""
    documents: list[Document] = []
    seen: set[str] = set()
    for where, record in iter_jsonl_objects(path):
        doc_id, text = record.get("id"), record.get("text")
        if not isinstance(doc_id, str | int) or str(doc_id).strip() == "":
            raise DocumentLoadError(where, "missing the 'id' field")
        if not isinstance(text, str) or not text.strip():
            raise DocumentLoadError(where, f"document {doc_id!r} has no 'text'")
        doc_id = str(doc_id)
        if doc_id in seen:
            raise DocumentLoadError(where, f"duplicate document id {doc_id!r}")
        seen.add(doc_id)
        title = record.get("title")
        url = record.get("url")
        documents.append(
            Document(
                id=doc_id,
                title=str(title).strip() if title else doc_id,
                blocks=blocks_from_paragraphs(text),
                source=str(path),
                url=str(url) if url else None,
                metadata=_flat_metadata(record.get("metadata"), where),
            )
        )
    if not documents:
        raise DocumentLoadError(str(path), "the file holds no documents")
    return documents


def parse_text(text: str, *, source: str, doc_id: str, fallback_title: str, url: str | None = None) -> Document:
    """Plain text: paragraphs separated by blank lines; the first line is the title if short."""
    if not text.strip():
        raise DocumentLoadError(source, "the file is empty")
    first = text.strip().splitlines()[0].strip()
    title = first if len(first) <= _TITLE_LIMIT else fallback_title
    return Document(id=doc_id, title=title, blocks=blocks_from_paragraphs(text), source=source, url=url)


def load_text(path: Path) -> list[Document]:
    """A plain-text file: paragraphs separated by blank lines; the first line is the title if short."""
    text = _read_text(path)
    return [parse_text(text, source=str(path), doc_id=file_document_id(path), fallback_title=_title_from_stem(path))]


# -- Markdown -----------------------------------------------------------------------------------


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def split_front_matter(text: str, source: str) -> tuple[dict[str, str], str]:
    """Front matter (`key: value` lines between `---` lines at the top) and the text after it."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        return {}, text
    fields: dict[str, str] = {}
    last_key: str | None = None
    for number, line in enumerate(lines[1:end], start=2):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if last_key is not None and (line[0].isspace() or stripped.startswith("- ")):
            item = _unquote(stripped.removeprefix("- "))
            fields[last_key] = f"{fields[last_key]}, {item}" if fields[last_key] else item
            continue
        key, sep, value = stripped.partition(":")
        key = key.strip().lower()
        if not sep or not key:
            raise DocumentLoadError(source, f"front matter line {number} is not 'key: value': {stripped!r}")
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            value = ", ".join(_unquote(v) for v in value[1:-1].split(",") if v.strip())
        fields[key] = _unquote(value)
        last_key = key
    return fields, "\n".join(lines[end + 1 :])


def _md_inline(node: SyntaxTreeNode) -> str:
    parts: list[str] = []
    for child in node.children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "html_inline":
            continue
        else:  # emphasis, links, images (alt text): keep the text, drop the markup
            parts.append(_md_inline(child))
    return "".join(parts)


def _md_text(node: SyntaxTreeNode) -> str:
    """The text of any block node, markup dropped."""
    if node.type == "inline":
        return _collapse(_md_inline(node))
    if node.type in ("fence", "code_block"):
        return node.content.rstrip("\n")
    if node.type == "html_block":
        return _collapse(LexborHTMLParser(bounded_depth(node.content)).text(separator=" "))
    return "\n".join(text for child in node.children if (text := _md_text(child)))


def _md_list_items(node: SyntaxTreeNode, depth: int = 0) -> list[str]:
    """One string per item of a list; nested lists are indented lines of their item."""
    start = int(node.attrs.get("start", 1)) if node.type == "ordered_list" else 1
    items: list[str] = []
    for number, item in enumerate(node.children, start=start):
        marker = f"{number}." if node.type == "ordered_list" else "-"
        own: list[str] = []
        nested: list[str] = []
        for child in item.children:
            if child.type in ("bullet_list", "ordered_list"):
                nested.extend(_md_list_items(child, depth + 1))
            elif text := _md_text(child):
                own.append(text)
        items.append("\n".join([f"{'  ' * depth}{marker} {' '.join(own)}".rstrip(), *nested]))
    return items


def _md_table_rows(node: SyntaxTreeNode) -> tuple[str | None, list[str]]:
    header: str | None = None
    rows: list[str] = []
    for section in node.children:
        for row in section.children:
            line = " | ".join(_md_text(cell) for cell in row.children)
            if section.type == "thead" and header is None:
                header = line
            else:
                rows.append(line)
    return header, rows


def _md_walk(node: SyntaxTreeNode, outline: _Outline) -> None:
    for child in node.children:
        if child.type == "heading":
            outline.heading(int(child.tag[1]), _md_text(child))
        elif child.type in ("bullet_list", "ordered_list"):
            for block in _group_lines(_md_list_items(child)):
                outline.add(block)
        elif child.type == "table":
            header, rows = _md_table_rows(child)
            for block in _group_lines(rows, header=header):
                outline.add(block)
        elif child.type == "blockquote":
            _md_walk(child, outline)
        elif child.type != "hr":
            outline.add(_md_text(child))


def parse_markdown(text: str, *, source: str, doc_id: str, fallback_title: str, url: str | None = None) -> Document:
    """Markdown with optional front matter; `title`, `url` and `id` there override, other keys become metadata."""
    fields, body = split_front_matter(text.replace("\r\n", "\n"), source)
    tree = SyntaxTreeNode(MarkdownIt("commonmark").enable("table").parse(body))
    outline = _Outline()
    _md_walk(tree, outline)
    if not outline.blocks:
        raise _no_content(source)
    first_h1 = next(
        (_md_text(node) for node in tree.children if node.type == "heading" and node.tag == "h1"),
        "",
    )
    metadata = {key: value for key, value in fields.items() if key not in ("title", "url", "id") and value}
    return Document(
        id=fields.get("id") or doc_id,
        title=fields.get("title") or first_h1 or fallback_title,
        blocks=tuple(outline.blocks),
        source=source,
        url=fields.get("url") or url,
        metadata=metadata,
    )


def load_markdown(path: Path) -> list[Document]:
    """A Markdown file: blocks under their heading path; front matter gives title, url, id and metadata."""
    text = _read_text(path)
    if not text.strip():
        raise DocumentLoadError(str(path), "the file is empty")
    return [
        parse_markdown(text, source=str(path), doc_id=file_document_id(path), fallback_title=_title_from_stem(path))
    ]


# -- HTML ---------------------------------------------------------------------------------------

_HTML_DROP = (
    "script, style, noscript, template, svg, canvas, iframe, object, nav, aside, form, button, select, "
    "[hidden], [aria-hidden=true], [role=navigation], [role=banner], [role=contentinfo]"
)
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_HTML_BLOCKS = frozenset(
    "address article blockquote body caption center dd details dialog div dl dt fieldset figcaption figure "
    "footer header hr legend li main p section summary td th tr".split()
)


def _html_text(node: LexborNode) -> str:
    return _collapse(node.text(deep=True))


def _html_list_items(node: LexborNode, depth: int = 0) -> list[str]:
    items: list[str] = []
    ordered = node.tag == "ol"
    for number, item in enumerate((c for c in node.iter() if c.tag == "li"), start=1):
        own: list[str] = []
        nested: list[str] = []
        for child in item.iter(include_text=True):
            if child.tag in ("ul", "ol"):
                nested.extend(_html_list_items(child, depth + 1))
            elif child.tag in _HTML_BLOCKS or child.tag == "br":
                own.append(f" {child.text(deep=True)} ")
            else:
                own.append(child.text(deep=True))
        marker = f"{number}." if ordered else "-"
        items.append("\n".join([f"{'  ' * depth}{marker} {_collapse(''.join(own))}".rstrip(), *nested]))
    return items


def _html_table_blocks(node: LexborNode) -> list[str]:
    header: str | None = None
    rows: list[str] = []
    for row in node.css("tr"):
        cells = [c for c in row.iter() if c.tag in ("td", "th")]
        line = " | ".join(_html_text(c) for c in cells)
        if not line.replace("|", "").strip():
            continue
        if header is None and not rows and cells and all(c.tag == "th" for c in cells):
            header = line
        else:
            rows.append(line)
    caption = node.css_first("caption")
    blocks = _group_lines(rows, header=header)
    if caption is not None and _html_text(caption):
        blocks.insert(0, _html_text(caption))
    return blocks


class _HtmlWalker:
    def __init__(self) -> None:
        self.outline = _Outline()
        self._inline: list[str] = []

    def flush(self) -> None:
        self.outline.add(_collapse("".join(self._inline)))
        self._inline.clear()

    def walk(self, node: LexborNode) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag
            if child.is_text_node:
                self._inline.append(child.text(deep=False))
            elif tag in _HTML_HEADINGS:
                self.flush()
                self.outline.heading(_HTML_HEADINGS[tag], _html_text(child))
            elif tag in ("ul", "ol"):
                self.flush()
                for block in _group_lines(_html_list_items(child)):
                    self.outline.add(block)
            elif tag == "table":
                self.flush()
                for block in _html_table_blocks(child):
                    self.outline.add(block)
            elif tag == "pre":
                self.flush()
                self.outline.add(child.text(deep=True))
            elif tag == "br":
                self._inline.append(" ")
            elif tag in _HTML_BLOCKS:
                self.flush()
                self.walk(child)
                self.flush()
            else:
                self.walk(child)


def _html_canonical(tree: LexborHTMLParser, base_url: str | None) -> str | None:
    for link in tree.css("link[rel][href]"):
        if "canonical" in (link.attributes.get("rel") or "").lower().split():
            href = (link.attributes.get("href") or "").strip()
            absolute = urljoin(base_url, href) if base_url else href
            if urlsplit(absolute).scheme in ("http", "https"):
                return absolute
    return None


def _html_meta_description(tree: LexborHTMLParser) -> str:
    for meta in tree.css("meta[name][content]"):
        if (meta.attributes.get("name") or "").strip().lower() == "description":
            return _collapse(meta.attributes.get("content") or "")
    return ""


def _html_inside(node: LexborNode, root: LexborNode, tags: tuple[str, ...]) -> bool:
    """Whether `node` sits inside one of `tags` (the content root counts)."""
    if root.tag in tags:
        return True
    parent = node.parent
    while parent is not None and parent.mem_id != root.mem_id:
        if parent.tag in tags:
            return True
        parent = parent.parent
    return False


def _html_content_root(tree: LexborHTMLParser) -> LexborNode | None:
    main = tree.css_first("main, [role=main]")
    if main is not None:
        return main
    articles = tree.css("article")
    if len(articles) == 1:
        return articles[0]
    return tree.body


def parse_html(html: str, *, source: str, doc_id: str, fallback_title: str, base_url: str | None = None) -> Document:
    """An HTML page: the main content's blocks under their h1–h6 path; page chrome (nav, header, ...) dropped.

    `url` is the canonical link if the page gives one, else `base_url`.
    """
    tree = LexborHTMLParser(bounded_depth(html))
    title_node = tree.css_first("title")
    title = _html_text(title_node) if title_node else ""
    any_h1 = tree.css_first("h1")
    any_h1_text = _html_text(any_h1) if any_h1 else ""
    metadata: dict[str, MetadataValue] = {}
    if description := _html_meta_description(tree):
        metadata["description"] = description
    html_node = tree.css_first("html")
    if html_node is not None and (lang := (html_node.attributes.get("lang") or "").strip()):
        metadata["language"] = lang
    url = _html_canonical(tree, base_url) or base_url
    root = _html_content_root(tree)
    if root is None:
        raise _no_content(source)
    for node in root.css(_HTML_DROP):
        node.decompose()
    for node in root.css("header, footer"):
        # page chrome; a header inside the content (an article's title) stays
        if node.tag == "footer" or not _html_inside(node, root, ("main", "article", "section")):
            node.decompose()
    if not title:  # the content's own h1 is a better title than one in the page header
        content_h1 = root.css_first("h1")
        title = (_html_text(content_h1) if content_h1 else "") or any_h1_text
    walker = _HtmlWalker()
    try:
        walker.walk(root)
    except RecursionError as exc:
        raise DocumentLoadError(source, "the HTML is nested too deeply to read") from exc
    walker.flush()
    if not walker.outline.blocks:
        raise _no_content(source)
    return Document(
        id=doc_id,
        title=title or fallback_title,
        blocks=tuple(walker.outline.blocks),
        source=source,
        url=url,
        metadata=metadata,
    )


def load_html(path: Path) -> list[Document]:
    """An HTML file; its canonical link, description and `lang` go into `url` and metadata."""
    text = _read_text(path)
    if not text.strip():
        raise DocumentLoadError(str(path), "the file is empty")
    return [parse_html(text, source=str(path), doc_id=file_document_id(path), fallback_title=_title_from_stem(path))]


# -- PDF ----------------------------------------------------------------------------------------

_PDF_JUNK_TITLES = frozenset({"", "untitled", "anonymous", "(anonymous)", "unspecified", "(unspecified)"})


@dataclass(frozen=True, slots=True)
class _PdfLine:
    text: str
    size: float
    y: float


def _pdf_lines(page: Any) -> list[_PdfLine]:
    """The text lines of a page with their font size and vertical position."""
    lines: list[_PdfLine] = []
    parts: list[str] = []
    state: dict[str, float] = {}

    def end_line() -> None:
        text = _collapse("".join(parts))
        if text:
            lines.append(_PdfLine(text, state.get("size", 0.0), state.get("y", 0.0)))
        parts.clear()
        state.clear()

    def visit(text: str, cm: list[float], tm: list[float], font: object, font_size: float) -> None:
        scale = (math.hypot(tm[2], tm[3]) or 1.0) * (math.hypot(cm[2], cm[3]) or 1.0)
        y = cm[5] + tm[4] * cm[1] + tm[5] * cm[3]
        for index, piece in enumerate(text.split("\n")):
            if index:
                end_line()
            if piece.strip():
                state.setdefault("y", y)
                state["size"] = max(state.get("size", 0.0), round(font_size * scale * 2) / 2)
            parts.append(piece)

    page.extract_text(visitor_text=visit)
    end_line()
    return lines


def _pdf_heading_levels(pages: list[list[_PdfLine]]) -> dict[float, int]:
    """Font sizes clearly above the body size, largest first, as heading levels; none if the guess looks wrong."""
    weights: Counter[float] = Counter()
    for line in (line for page in pages for line in page):
        weights[line.size] += len(line.text)
    if not weights:
        return {}
    body = weights.most_common(1)[0][0]
    candidates = [line for page in pages for line in page if line.size >= body * 1.15 and len(line.text) <= 100]
    total = sum(len(page) for page in pages)
    if not candidates or len(candidates) > 0.4 * total:
        return {}
    return {size: level for level, size in enumerate(sorted({c.size for c in candidates}, reverse=True), start=1)}


def _pdf_join(lines: list[str]) -> str:
    text = ""
    for line in lines:
        if text.endswith("-") and line[:1].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}" if text else line
    return text


def _pdf_page_blocks(lines: list[_PdfLine], levels: dict[float, int], outline: _Outline, page_number: int) -> None:
    body = [line for line in lines if line.size not in levels]
    gaps = Counter(round(a.y - b.y, 1) for a, b in zip(body, body[1:], strict=False) if a.y - b.y > 0)
    # the line spacing inside a paragraph: the most common gap, the smaller on a tie
    usual_gap = min(gaps, key=lambda gap: (-gaps[gap], gap)) if gaps else 0.0
    paragraph: list[str] = []
    previous: _PdfLine | None = None

    def flush() -> None:
        if paragraph:
            page_outline = outline.headings
            outline.blocks.append(Block(text=_pdf_join(paragraph), headings=(*page_outline, f"Page {page_number}")))
            paragraph.clear()

    for line in lines:
        level = levels.get(line.size) if len(line.text) <= 100 else None
        if level is not None:
            flush()
            outline.heading(level, line.text)
            previous = None
            continue
        if previous is not None:
            gap = previous.y - line.y
            if gap <= 0 or (usual_gap and gap > usual_gap * 1.4) or line.size != previous.size:
                flush()
        paragraph.append(line.text)
        previous = line
    flush()


def parse_pdf(data: bytes, *, source: str, doc_id: str, fallback_title: str, url: str | None = None) -> Document:
    """A PDF with a text layer: paragraphs under detected headings and their page (`("Refunds", "Page 2")`)."""
    from pypdf import PdfReader  # imported here: pypdf is slow to import and only PDFs need it

    if b"%PDF-" not in data[:1024]:
        raise DocumentLoadError(source, "not a valid PDF (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentLoadError(source, "is encrypted (a password is needed to read it)")
        pdf_pages = list(reader.pages)
        info = reader.metadata
    except DocumentLoadError:
        raise
    except Exception as exc:  # pypdf raises many exception types (ValueError, KeyError, ...) on broken files
        reason = "is encrypted with an unsupported method" if "crypt" in str(exc).lower() else "not a valid PDF"
        raise DocumentLoadError(source, f"{reason} ({type(exc).__name__}: {exc})") from exc
    pages: list[list[_PdfLine]] = []
    for number, page in enumerate(pdf_pages, start=1):
        try:
            pages.append(_pdf_lines(page))
        except Exception as exc:  # same: malformed content streams fail in many ways
            raise DocumentLoadError(source, f"cannot extract the text of page {number} ({exc})") from exc
    if not any(pages):
        raise DocumentLoadError(source, "has no extractable text (scanned?)")
    levels = _pdf_heading_levels(pages)
    outline = _Outline()
    for number, lines in enumerate(pages, start=1):
        _pdf_page_blocks(lines, levels, outline, number)
    meta_title = _collapse(str(info.title)) if info is not None and info.title else ""
    meta_title = meta_title.removeprefix("Microsoft Word - ")
    first_line = next(line.text for lines in pages for line in lines)
    if meta_title.lower() not in _PDF_JUNK_TITLES:
        title = meta_title
    else:
        title = first_line if len(first_line) <= _TITLE_LIMIT else fallback_title
    return Document(
        id=doc_id,
        title=title,
        blocks=tuple(outline.blocks),
        source=source,
        url=url,
        metadata={"pages": len(pdf_pages)},
    )


def load_pdf(path: Path) -> list[Document]:
    """A PDF file; broken, encrypted and text-less (scanned) PDFs raise `DocumentLoadError`."""
    data = _read_bytes(path)
    if not data.strip():
        raise DocumentLoadError(str(path), "the file is empty")
    return [parse_pdf(data, source=str(path), doc_id=file_document_id(path), fallback_title=_title_from_stem(path))]


# -- files and folders --------------------------------------------------------------------------


def file_document_id(path: Path) -> str:
    """The id of a document read from a file: its resolved path."""
    return str(path.resolve())


LOADERS: dict[str, Loader] = {
    ".jsonl": load_jsonl,
    ".txt": load_text,
    ".text": load_text,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
}


def load_file(path: Path) -> list[Document]:
    """Read one file with the loader for its suffix."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        supported = ", ".join(sorted(LOADERS))
        msg = f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; supported: {supported}"
        raise UnsupportedSourceError(msg)
    if path.is_dir():
        raise DocumentLoadError(str(path), "is a folder, not a file")
    if not path.is_file():
        raise DocumentLoadError(str(path), "no such file")
    return loader(path)


def iter_files(root: Path, *, include_unsupported: bool = False) -> Iterator[Path]:
    """The files under a folder that a loader reads, in a stable order (hidden files skipped).

    With `include_unsupported`, every non-hidden file, so that callers can report the ones no loader reads.
    """
    for path in sorted(root.rglob("*")):
        if (
            path.is_file()
            and (include_unsupported or path.suffix.lower() in LOADERS)
            and not any(part.startswith(".") for part in path.relative_to(root).parts)
        ):
            yield path


# -- sources ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What one source (a file, a web page) gave: its documents, or the error that stopped it."""

    source: str
    documents: list[Document] | None
    error: KnowledgeError | None


def _file_result(path: Path) -> SourceResult:
    try:
        return SourceResult(source=str(path), documents=load_file(path), error=None)
    except KnowledgeError as exc:
        return SourceResult(source=str(path), documents=None, error=exc)


def is_url(source: str) -> bool:
    """Whether a source string is a URL (any scheme) rather than a path."""
    return bool(_URL_SCHEME.match(source.strip()))


def iter_source_documents(source: str, *, http: httpx.Client | None = None) -> Iterator[SourceResult]:
    """The documents of a file, a folder (one result per file), a web page or a sitemap (one result per page).

    Failures come back as results with an `error`, so one bad file or page does not stop the others.
    `http` is used for URLs; without it a client is made (and closed) for this call.
    """
    if is_url(source):
        from knowledge import web  # knowledge.web imports this module's parsers

        yield from web.iter_url_documents(source.strip(), client=http)
        return
    path = Path(source).expanduser()
    if path.is_dir():
        found = False
        for file in iter_files(path, include_unsupported=True):
            found = True
            yield _file_result(file)
        if not found:
            yield SourceResult(source=source, documents=None, error=DocumentLoadError(source, "the folder is empty"))
    elif path.exists():
        yield _file_result(path)
    else:
        reason = "no such file or folder"
        if source.startswith("www."):
            reason += " (for a web page, give the full URL with https://)"
        yield SourceResult(source=source, documents=None, error=DocumentLoadError(source, reason))
