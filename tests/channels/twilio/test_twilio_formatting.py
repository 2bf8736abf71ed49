"""Markdown for WhatsApp and SMS, cutting long replies, and text for speech."""

from __future__ import annotations

import re

import pytest

from channels.messages import Link
from channels.twilio import render_text, speech_text, split_message

REPLY = (
    "## Refunds\n\n"
    "**Refunds** take *5 business days* after we receive the bike [1]. "
    "See [the returns page](https://help.example.com/returns_policy) or https://help.example.com/faq_refunds.\n\n"
    "- Keep the `order_id` handy\n"
    "* Use the original box [2]"
)
CITATIONS = (
    Link("Returns policy", "https://help.example.com/returns_policy"),
    Link("Shipping", "https://help.example.com/shipping"),
    Link("Store guide"),
)


def test_whatsapp_shows_its_own_markup_and_links_as_title_and_url() -> None:
    text = render_text(REPLY, CITATIONS, medium="whatsapp")
    assert text.startswith("*Refunds*\n\n*Refunds* take _5 business days_ after we receive the bike [1].")
    assert "the returns page: https://help.example.com/returns_policy" in text
    assert "https://help.example.com/faq_refunds." in text  # underscores in URLs are not italics
    assert "• Keep the `order_id` handy\n• Use the original box [2]" in text
    assert "**" not in text and "](" not in text and "##" not in text
    assert text.endswith(
        "*Sources:*\n[1] Returns policy: https://help.example.com/returns_policy\n"
        "[2] Shipping: https://help.example.com/shipping\n[3] Store guide"
    )


def test_sms_is_plain_text_with_short_source_lines() -> None:
    text = render_text(REPLY, CITATIONS, medium="sms")
    assert text.startswith("Refunds\n\nRefunds take 5 business days after we receive the bike [1].")
    assert "the returns page (https://help.example.com/returns_policy)" in text
    assert "- Keep the order_id handy\n- Use the original box [2]" in text
    assert not re.search(r"[*`#]|_\w+_ ", text.replace("order_id", ""))
    assert text.endswith(
        "Sources:\n[1] https://help.example.com/returns_policy\n[2] https://help.example.com/shipping\n[3] Store guide"
    )


def test_snake_case_and_lone_asterisks_are_left_alone() -> None:
    text = "Use promo_code_2024 and 2 * 3 = 6."
    assert render_text(text, medium="whatsapp") == text
    assert render_text(text, medium="sms") == text


def test_a_short_text_is_not_split_or_numbered() -> None:
    assert split_message("Hello there.", 1600) == ["Hello there."]


def test_a_long_text_is_split_on_paragraphs_and_numbered() -> None:
    paragraphs = [f"Paragraph {n}. " + "word " * 60 for n in range(1, 8)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    parts = split_message(text, 1000)
    assert len(parts) == 3
    assert all(len(part) <= 1000 for part in parts)
    assert [part[:6] for part in parts] == ["(1/3) ", "(2/3) ", "(3/3) "]
    assert parts[1].startswith("(2/3) Paragraph 4.")  # each part begins with a paragraph
    rejoined = " ".join(part[6:] for part in parts)
    assert rejoined.split() == text.split()  # nothing lost or duplicated


def test_without_paragraphs_it_splits_after_a_sentence() -> None:
    sentence = "The battery charges fully in about four hours. "
    parts = split_message(sentence * 50, 500)
    assert all(len(part) <= 500 for part in parts)
    assert all(part.endswith("hours.") for part in parts)


def test_one_endless_word_is_cut_hard() -> None:
    parts = split_message("x" * 3300, 1600)
    assert [len(part) for part in parts] == [1600, 1600, 3300 - 2 * 1594 + 6]
    assert "".join(part.split(" ", 1)[1] for part in parts) == "x" * 3300


def test_more_than_nine_parts_keep_within_the_limit() -> None:
    parts = split_message("word " * 1000, 100)
    assert len(parts) > 9
    assert all(len(part) <= 100 for part in parts)
    assert parts[-1].startswith(f"({len(parts)}/{len(parts)}) ")


def test_speech_drops_markup_urls_and_citation_markers() -> None:
    speech = speech_text(REPLY)
    assert speech.text.startswith("Refunds. Refunds take 5 business days after we receive the bike.")
    assert not re.search(r"https?://|www\.|\[\d|[*_#`•]|\]\(", speech.text)
    assert "See the returns page." in speech.text
    assert speech.truncated  # three sentences said, the bullets left for a text message


def test_speech_says_our_website_where_a_url_was_the_object() -> None:
    speech = speech_text("Visit https://help.example.com/contact for details, or call us at +1 555 0100.")
    assert speech.text == "Visit our website for details, or call us at +1 555 0100."


def test_speech_keeps_a_short_answer_whole() -> None:
    speech = speech_text("The Lakeview store opens at 9 am [1]. Parking is free [2].")
    assert speech.text == "The Lakeview store opens at 9 am. Parking is free."
    assert not speech.truncated


def test_speech_is_cut_to_the_character_budget() -> None:
    long = " ".join(f"Sentence number {n} explains one more detail about the warranty terms." for n in range(10))
    speech = speech_text(long, max_chars=200, max_sentences=5)
    assert len(speech.text) <= 200
    assert speech.text.endswith(".")
    assert speech.truncated


def test_speech_cuts_one_huge_sentence_at_a_word() -> None:
    speech = speech_text("word " * 200, max_chars=100)
    assert len(speech.text) <= 101 and speech.text.endswith("word.")
    assert speech.truncated


@pytest.mark.parametrize(("limit", "chars"), [(10, 450), (1600, 10)])
def test_bad_limits_are_refused(limit: int, chars: int) -> None:
    with pytest.raises(ValueError, match=r"\d"):
        split_message("text", limit) if limit < 20 else speech_text("text", max_chars=chars)
