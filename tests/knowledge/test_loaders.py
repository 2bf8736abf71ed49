"""Loaders: Markdown, HTML, PDF, plain text and folders become the right documents, or clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfgen import canvas
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

from knowledge.errors import DocumentLoadError, UnsupportedSourceError
from knowledge.loaders import (
    GROUP_LIMIT,
    LOADERS,
    SourceResult,
    file_document_id,
    iter_files,
    iter_source_documents,
    load_file,
    load_html,
    load_jsonl,
    load_markdown,
    load_pdf,
    load_text,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def by_heading(blocks: tuple) -> dict[tuple[str, ...], list[str]]:
    grouped: dict[tuple[str, ...], list[str]] = {}
    for block in blocks:
        grouped.setdefault(block.headings, []).append(block.text)
    return grouped


# -- Markdown -------------------------------------------------------------------------------------

BILLING_MD = """\
---
title: "Billing help"
url: https://help.acme.test/billing
product: billing
language: en
tags:
  - refunds
  - cards
---
# Billing

We accept **Visa** and [Mastercard](https://mastercard.test) for `monthly` plans.

## Refunds

Refunds take *five* business days.

- Open **Settings**
- Choose [Refund](https://acme.test/refund)
  - pick the invoice
- Confirm

| Plan | Price |
|------|-------|
| Basic | $5 |
| Pro | $20 |

```bash
acme refund --invoice 42
```

## Invoices

> Invoices are emailed on the first day of the month.
"""


def test_markdown_front_matter_title_url_metadata(tmp_path: Path) -> None:
    path = write(tmp_path / "billing.md", BILLING_MD)
    [doc] = load_markdown(path)
    assert doc.title == "Billing help"
    assert doc.url == "https://help.acme.test/billing"
    assert doc.id == file_document_id(path)
    assert doc.source == str(path)
    assert dict(doc.metadata) == {"product": "billing", "language": "en", "tags": "refunds, cards"}
    assert "title:" not in doc.text and "---" not in doc.text


def test_markdown_blocks_sit_under_their_heading_path(tmp_path: Path) -> None:
    [doc] = load_markdown(write(tmp_path / "billing.md", BILLING_MD))
    sections = by_heading(doc.blocks)
    assert list(sections) == [("Billing",), ("Billing", "Refunds"), ("Billing", "Invoices")]
    assert sections[("Billing",)] == ["We accept Visa and Mastercard for monthly plans."]
    refunds = sections[("Billing", "Refunds")]
    assert refunds[0] == "Refunds take five business days."
    # a short list stays one block, nested items indented under their parent
    assert refunds[1] == "- Open Settings\n- Choose Refund\n  - pick the invoice\n- Confirm"
    assert refunds[2] == "Plan | Price\nBasic | $5\nPro | $20"
    assert refunds[3] == "acme refund --invoice 42"
    assert sections[("Billing", "Invoices")] == ["Invoices are emailed on the first day of the month."]


def test_markdown_drops_markup_keeps_link_text(tmp_path: Path) -> None:
    [doc] = load_markdown(write(tmp_path / "billing.md", BILLING_MD))
    assert "Mastercard" in doc.text
    for markup in ("**", "](", "https://mastercard.test", "`monthly`", "```", "> "):
        assert markup not in doc.text


def test_markdown_title_from_first_h1_then_file_stem(tmp_path: Path) -> None:
    [with_h1] = load_markdown(write(tmp_path / "a.md", "Intro line.\n\n# Shipping times\n\nTwo days."))
    assert with_h1.title == "Shipping times"
    [no_heading] = load_markdown(write(tmp_path / "reset-your_password.markdown", "## Steps\n\nClick reset."))
    assert no_heading.title == "reset your password"
    assert no_heading.blocks[0].headings == ("Steps",)


def test_markdown_front_matter_id_overrides_path_id(tmp_path: Path) -> None:
    [doc] = load_markdown(write(tmp_path / "a.md", "---\nid: kb-17\n---\nText.\n"))
    assert doc.id == "kb-17"
    assert doc.title == "a"
    assert dict(doc.metadata) == {}


def test_markdown_heading_levels_pop_back(tmp_path: Path) -> None:
    text = "# A\n\n## B\n\n### C\n\nc text\n\n## D\n\nd text\n\n# E\n\ne text\n"
    [doc] = load_markdown(write(tmp_path / "a.md", text))
    assert [b.headings for b in doc.blocks] == [("A", "B", "C"), ("A", "D"), ("E",)]


def test_markdown_long_list_is_split_into_runs(tmp_path: Path) -> None:
    items = [f"- Step {n}: {'press the button and wait a little ' * 3}" for n in range(30)]
    [doc] = load_markdown(write(tmp_path / "a.md", "# Steps\n\n" + "\n".join(items) + "\n"))
    assert len(doc.blocks) > 1
    assert all(len(b.text) <= GROUP_LIMIT for b in doc.blocks)
    assert "\n".join(b.text for b in doc.blocks).count("- Step") == 30


def test_markdown_malformed_front_matter_names_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.md", "---\ntitle: ok\njust words\n---\nBody.\n")
    with pytest.raises(DocumentLoadError) as info:
        load_markdown(path)
    assert info.value.source == str(path)
    assert "front matter line 3" in info.value.reason and "'just words'" in info.value.reason


def test_markdown_with_only_front_matter_has_no_content(tmp_path: Path) -> None:
    with pytest.raises(DocumentLoadError, match="has no text content"):
        load_markdown(write(tmp_path / "a.md", "---\ntitle: Empty\n---\n\n"))


def test_markdown_crlf_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "win.md"
    path.write_bytes(b"---\r\ntitle: Windows\r\nproduct: app\r\n---\r\n# H\r\n\r\nText.\r\n")
    [doc] = load_markdown(path)
    assert (doc.title, dict(doc.metadata), doc.blocks[0].text) == ("Windows", {"product": "app"}, "Text.")


# -- HTML -----------------------------------------------------------------------------------------

PAGE_HTML = """\
<!doctype html>
<html lang="en-GB">
<head>
  <title>Payments | Acme Help</title>
  <meta name="Description" content="How to pay Acme.">
  <link rel="stylesheet" href="/site.css">
  <link rel="canonical" href="https://help.acme.test/payments">
  <style>.x { color: red }</style>
  <script>var tracking = 1;</script>
</head>
<body>
  <header><a href="/">Acme home</a></header>
  <nav><ul><li>Menu item</li></ul></nav>
  <p>Outside main: cookie banner.</p>
  <main>
    <article>
      <header><h1>Payments</h1></header>
      <p>We take <b>cards</b> and <a href="/bank">bank transfers</a>.<br>Cash is not accepted.</p>
      <h2>Refunds</h2>
      <ul><li>Ask support<ul><li>by chat</li></ul></li><li>Wait five days</li></ul>
      <table>
        <tr><th>Plan</th><th>Price</th></tr>
        <tr><td>Basic</td><td>$5</td></tr>
      </table>
      <h3>Card refunds</h3>
      <blockquote><p>Card refunds go back to the same card.</p></blockquote>
      <pre>refund --card
  --amount 5</pre>
      <dl><dt>Chargeback</dt><dd>A refund forced by the bank.</dd></dl>
      <form><label>Was this helpful?</label><button>Yes</button></form>
      <aside>Related articles</aside>
      <footer>Last updated yesterday</footer>
    </article>
  </main>
  <footer>Copyright Acme</footer>
</body>
</html>
"""


def test_html_title_url_metadata(tmp_path: Path) -> None:
    path = write(tmp_path / "payments.html", PAGE_HTML)
    [doc] = load_html(path)
    assert doc.title == "Payments | Acme Help"
    assert doc.url == "https://help.acme.test/payments"
    assert dict(doc.metadata) == {"description": "How to pay Acme.", "language": "en-GB"}
    assert doc.id == file_document_id(path)


def test_html_blocks_under_heading_path(tmp_path: Path) -> None:
    [doc] = load_html(write(tmp_path / "payments.htm", PAGE_HTML))
    sections = by_heading(doc.blocks)
    assert sections[("Payments",)] == ["We take cards and bank transfers. Cash is not accepted."]
    assert sections[("Payments", "Refunds")] == [
        "- Ask support\n  - by chat\n- Wait five days",
        "Plan | Price\nBasic | $5",
    ]
    assert sections[("Payments", "Refunds", "Card refunds")] == [
        "Card refunds go back to the same card.",
        "refund --card\n  --amount 5",
        "Chargeback",
        "A refund forced by the bank.",
    ]


def test_html_drops_page_chrome(tmp_path: Path) -> None:
    [doc] = load_html(write(tmp_path / "payments.html", PAGE_HTML))
    for chrome in (
        "Acme home",
        "Menu item",
        "cookie banner",
        "tracking",
        "color",
        "helpful",
        "Related",
        "Copyright",
        "Last updated",
    ):
        assert chrome not in doc.text


def test_html_without_main_title_from_h1_and_body(tmp_path: Path) -> None:
    html = """<html><body><header><h1>Site name</h1></header>
    <div class="content"><h1>Reset your password</h1><div>Open <i>Settings</i>.<p>Click reset.</p>Then log in.</div>
    </div><footer>foot</footer></body></html>"""
    [doc] = load_html(write(tmp_path / "reset.html", html))
    assert doc.title == "Reset your password"  # the content's first <h1>, as there is no <title>
    assert [(b.headings, b.text) for b in doc.blocks] == [
        (("Reset your password",), "Open Settings."),
        (("Reset your password",), "Click reset."),
        (("Reset your password",), "Then log in."),
    ]
    assert doc.url is None and dict(doc.metadata) == {}


def test_html_title_falls_back_to_any_h1_then_stem(tmp_path: Path) -> None:
    [doc] = load_html(write(tmp_path / "a.html", "<body><header><h1>Acme</h1></header><p>Text.</p></body>"))
    assert doc.title == "Acme"
    assert doc.text == "Text."
    [doc] = load_html(write(tmp_path / "contact-us.html", "<body><p>Text.</p></body>"))
    assert doc.title == "contact us"


def test_html_relative_canonical_on_a_file_is_ignored(tmp_path: Path) -> None:
    html = '<html><head><link rel="canonical" href="/help"></head><body><p>Hi.</p></body></html>'
    [doc] = load_html(write(tmp_path / "a.html", html))
    assert doc.url is None
    assert doc.title == "a"


def test_html_with_no_text_raises(tmp_path: Path) -> None:
    path = write(tmp_path / "menu.html", "<html><body><nav>Home</nav><script>x()</script></body></html>")
    with pytest.raises(DocumentLoadError) as info:
        load_html(path)
    assert (info.value.source, info.value.reason) == (str(path), "has no text content")


# -- PDF ------------------------------------------------------------------------------------------


def build_pdf(path: Path, *, title: str | None = "Billing Guide") -> Path:
    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(str(path), pagesize=A4, title=title or "")
    doc.build(
        [
            Paragraph("Billing Guide", styles["Title"]),
            Paragraph("Refunds", styles["Heading1"]),
            Paragraph("Refunds are issued within fourteen days of the request. " * 4, styles["BodyText"]),
            Paragraph("Card refunds go back to the card that paid. " * 3, styles["BodyText"]),
            PageBreak(),
            Paragraph("Invoices", styles["Heading2"]),
            Paragraph("Invoices are emailed on the first day of every month. " * 3, styles["BodyText"]),
        ]
    )
    return path


def test_pdf_title_pages_and_detected_headings(tmp_path: Path) -> None:
    path = build_pdf(tmp_path / "guide.pdf")
    [doc] = load_pdf(path)
    assert doc.title == "Billing Guide"
    assert doc.id == file_document_id(path)
    assert dict(doc.metadata) == {"pages": 2}
    headings = [b.headings for b in doc.blocks]
    assert headings == [("Refunds", "Page 1"), ("Refunds", "Page 1"), ("Refunds", "Invoices", "Page 2")]
    assert doc.blocks[0].text.startswith("Refunds are issued within fourteen days")
    assert doc.blocks[0].text.count("fourteen days") == 4
    assert doc.blocks[1].text.startswith("Card refunds go back")
    assert "first day of every month" in doc.blocks[2].text


def test_pdf_without_metadata_title_uses_first_line_and_page_headings(tmp_path: Path) -> None:
    path = tmp_path / "plain.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.setFont("Helvetica", 11)
    pdf.drawString(2 * cm, 27 * cm, "Warranty terms")
    pdf.drawString(2 * cm, 26 * cm, "The warranty lasts two years.")
    pdf.showPage()
    pdf.setFont("Helvetica", 11)
    pdf.drawString(2 * cm, 27 * cm, "Batteries are covered for one year.")
    pdf.save()
    [doc] = load_pdf(path)
    assert doc.title == "Warranty terms"
    assert {b.headings for b in doc.blocks} == {("Page 1",), ("Page 2",)}
    assert "two years" in doc.text and "one year" in doc.text


def test_pdf_truncated_is_not_a_valid_pdf(tmp_path: Path) -> None:
    good = build_pdf(tmp_path / "good.pdf").read_bytes()
    path = tmp_path / "broken.pdf"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DocumentLoadError) as info:
        load_pdf(path)
    assert info.value.source == str(path)
    assert info.value.reason.startswith("not a valid PDF")


def test_pdf_that_is_not_a_pdf(tmp_path: Path) -> None:
    path = write(tmp_path / "fake.pdf", "<html>not a pdf</html>")
    with pytest.raises(DocumentLoadError, match=r"fake\.pdf: not a valid PDF \(no %PDF header\)"):
        load_pdf(path)


def test_pdf_without_text_is_reported_as_scanned(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.rect(2 * cm, 2 * cm, 10 * cm, 10 * cm, fill=1)
    pdf.save()
    with pytest.raises(DocumentLoadError) as info:
        load_pdf(path)
    assert info.value.reason == "has no extractable text (scanned?)"


def test_pdf_encrypted_with_a_password(tmp_path: Path) -> None:
    path = tmp_path / "secret.pdf"
    pdf = canvas.Canvas(str(path), encrypt="s3cret")
    pdf.drawString(2 * cm, 27 * cm, "Confidential pricing.")
    pdf.save()
    with pytest.raises(DocumentLoadError) as info:
        load_pdf(path)
    assert info.value.reason.startswith("is encrypted")


def test_pdf_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    with pytest.raises(DocumentLoadError, match="the file is empty"):
        load_pdf(path)


# -- plain text and unreadable files --------------------------------------------------------------


def test_text_file_title_and_paragraphs(tmp_path: Path) -> None:
    [doc] = load_text(write(tmp_path / "faq.txt", "Opening hours\n\nWe open at nine.\n\nWe close at five.\n"))
    assert doc.title == "Opening hours"
    assert [b.text for b in doc.blocks] == ["Opening hours", "We open at nine.", "We close at five."]


def test_text_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "utf16.txt"
    path.write_bytes("Café hours\n\nOpen daily.".encode("utf-16"))
    [doc] = load_text(path)
    assert doc.title == "Café hours"


@pytest.mark.parametrize("content", ["", "   \n\t\n  "])
def test_empty_or_whitespace_text_file(tmp_path: Path, content: str) -> None:
    path = write(tmp_path / "empty.txt", content)
    with pytest.raises(DocumentLoadError) as info:
        load_text(path)
    assert str(info.value) == f"{path}: the file is empty"


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".jsonl"])
def test_binary_garbage_is_not_text(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(bytes(range(256)) * 8 + os.urandom(512))
    with pytest.raises(DocumentLoadError) as info:
        load_file(path)
    assert info.value.reason == "looks like binary data, not text"


def test_control_characters_without_nul_are_binary(tmp_path: Path) -> None:
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes([1, 2, 3, 4, 5, 6, 7, 8, 65, 66]) * 100)
    with pytest.raises(DocumentLoadError, match="looks like binary data"):
        load_text(path)


def test_unreadable_path_reports_os_reason(tmp_path: Path) -> None:
    folder = tmp_path / "notes.txt"
    folder.mkdir()
    with pytest.raises(DocumentLoadError) as info:
        load_text(folder)
    assert info.value.reason == "cannot read the file (Is a directory)"
    with pytest.raises(DocumentLoadError, match="is a folder, not a file"):
        load_file(folder)


def test_jsonl_still_loads(tmp_path: Path) -> None:
    record = {"id": "kb-1", "title": "Refunds", "text": "Five days.", "metadata": {"product": "billing"}}
    [doc] = load_jsonl(write(tmp_path / "kb.jsonl", json.dumps(record) + "\n"))
    assert (doc.id, doc.title, doc.text, dict(doc.metadata)) == (
        "kb-1",
        "Refunds",
        "Five days.",
        {"product": "billing"},
    )


def test_load_file_picks_loader_by_suffix_and_rejects_others(tmp_path: Path) -> None:
    assert {".md", ".markdown", ".html", ".htm", ".pdf", ".txt", ".jsonl"} <= set(LOADERS)
    [doc] = load_file(write(tmp_path / "UPPER.MD", "# Upper\n\nText."))
    assert doc.title == "Upper"
    with pytest.raises(UnsupportedSourceError, match=r"unsupported file type '\.docx'"):
        load_file(tmp_path / "report.docx")
    with pytest.raises(DocumentLoadError, match="no such file"):
        load_file(tmp_path / "missing.md")


# -- sources: files and folders -------------------------------------------------------------------


def make_kb_folder(root: Path) -> Path:
    write(root / "billing.md", BILLING_MD)
    write(root / "web" / "payments.html", PAGE_HTML)
    build_pdf(root / "web" / "guide.pdf")
    write(root / "notes" / "faq.txt", "FAQ\n\nAsk us anything.")
    write(root / "notes" / "empty.txt", "")
    write(root / "diagram.xyz", "???")
    write(root / ".hidden.md", "# Hidden\n\nSecret.")
    write(root / ".git" / "config.md", "# Git\n\nNot a document.")
    return root


def test_iter_files_skips_hidden_and_unsupported(tmp_path: Path) -> None:
    root = make_kb_folder(tmp_path / "kb")
    names = [p.relative_to(root).as_posix() for p in iter_files(root)]
    assert names == ["billing.md", "notes/empty.txt", "notes/faq.txt", "web/guide.pdf", "web/payments.html"]
    everything = [p.relative_to(root).as_posix() for p in iter_files(root, include_unsupported=True)]
    assert everything == ["billing.md", "diagram.xyz", *names[1:]]


def test_folder_source_gives_one_result_per_file(tmp_path: Path) -> None:
    root = make_kb_folder(tmp_path / "kb")
    results = list(iter_source_documents(str(root)))
    by_name = {Path(r.source).name: r for r in results}
    assert list(by_name) == ["billing.md", "diagram.xyz", "empty.txt", "faq.txt", "guide.pdf", "payments.html"]
    assert all(isinstance(r, SourceResult) for r in results)
    ok = {name: r.documents for name, r in by_name.items() if r.error is None}
    assert {name: [d.title for d in docs or []] for name, docs in ok.items()} == {
        "billing.md": ["Billing help"],
        "faq.txt": ["FAQ"],
        "guide.pdf": ["Billing Guide"],
        "payments.html": ["Payments | Acme Help"],
    }
    for name, docs in ok.items():
        assert [d.source for d in docs or []] == [by_name[name].source]
    xyz = by_name["diagram.xyz"]
    assert xyz.documents is None and isinstance(xyz.error, UnsupportedSourceError)
    assert "unsupported file type '.xyz'" in str(xyz.error)
    empty = by_name["empty.txt"]
    assert isinstance(empty.error, DocumentLoadError) and empty.error.reason == "the file is empty"


def test_single_file_source(tmp_path: Path) -> None:
    path = write(tmp_path / "faq.md", "# FAQ\n\nAnswers.")
    [result] = iter_source_documents(str(path))
    assert result.error is None and result.source == str(path)
    assert [d.title for d in result.documents or []] == ["FAQ"]


def test_missing_and_empty_sources_give_one_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    [result] = iter_source_documents(missing)
    assert result.documents is None and isinstance(result.error, DocumentLoadError)
    assert str(result.error) == f"{missing}: no such file or folder"
    (tmp_path / "empty").mkdir()
    [empty] = iter_source_documents(str(tmp_path / "empty"))
    assert isinstance(empty.error, DocumentLoadError) and empty.error.reason == "the folder is empty"


def test_non_http_url_source_is_unsupported() -> None:
    [result] = iter_source_documents("ftp://files.acme.test/kb.md")
    assert isinstance(result.error, UnsupportedSourceError)
    assert "only http and https URLs are supported" in str(result.error)
