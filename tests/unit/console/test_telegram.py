"""The Telegram editor's preview: each parse mode's entities as Telegram shows them, refusals in its words."""

from __future__ import annotations

import pytest
from pot_console.telegram import ParseError, markdown_legacy, markdown_v2, preview, telegram_html


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("*bold*", "<strong>bold</strong>"),
        ("_italic_", "<em>italic</em>"),
        ("__underline__", "<u>underline</u>"),
        ("~strike~", "<s>strike</s>"),
        ("||spoiler||", '<span class="tg-spoiler">spoiler</span>'),
        ("`a <b> & c`", "<code>a &lt;b&gt; &amp; c</code>"),
        ("```python\nprint(1)\n```", '<pre><code class="language-python">print(1)\n</code></pre>'),
        ("*bold _italic bold_ bold*", "<strong>bold <em>italic bold</em> bold</strong>"),
        ("Pool paused\\. Rate 5\\.2 \\%", "Pool paused. Rate 5.2 %"),
        (
            "[site](https://pot.dev/a\\)b)",
            '<a href="https://pot.dev/a)b" rel="noopener noreferrer nofollow">site</a>',
        ),
        (">quoted\n>more\nafter", "<blockquote>quoted\nmore</blockquote>\nafter"),
        ("<script\\>alert\\(1\\)</script\\>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ],
)
def test_markdown_v2_entities(text: str, html: str) -> None:
    assert markdown_v2(text) == html


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Rate 5.2", "Character '.' is reserved and must be escaped with the preceding '\\'"),
        ("a-b", "Character '-' is reserved"),
        ("*bold", "Can't find end of Bold entity at byte offset 0"),
        ("ok _it", "Can't find end of Italic entity at byte offset 3"),
        ("é *b", "Can't find end of Bold entity at byte offset 3"),  # byte offsets, as Telegram counts
    ],
)
def test_markdown_v2_refusals_read_like_telegrams(text: str, error: str) -> None:
    with pytest.raises(ParseError) as caught:
        markdown_v2(text)
    assert str(caught.value).startswith(error)


def test_a_link_never_gets_a_script_url() -> None:
    shown = markdown_v2("[click](javascript:alert\\(1\\))")
    assert "href" not in shown and "javascript" not in shown.split(">")[0]


def test_legacy_markdown() -> None:
    assert markdown_legacy("*b* _i_ `c` [l](https://x.test)") == (
        "<strong>b</strong> <em>i</em> <code>c</code> "
        '<a href="https://x.test" rel="noopener noreferrer nofollow">l</a>'
    )
    assert markdown_legacy("1.5 - ok!") == "1.5 - ok!"  # nothing reserved outside the four markers
    assert markdown_legacy("a\\_b") == "a_b"
    with pytest.raises(ParseError, match="Can't find end of the entity starting at byte offset 2"):
        markdown_legacy("a *b")


def test_html_mode() -> None:
    assert telegram_html('<b>b</b> <i>i</i> &lt;3 <a href="https://x.test">l</a>') == (
        "<strong>b</strong> <em>i</em> &lt;3 "
        '<a href="https://x.test" rel="noopener noreferrer nofollow">l</a>'
    )
    assert telegram_html('<span class="tg-spoiler">s</span>') == '<span class="tg-spoiler">s</span>'
    assert telegram_html('<pre><code class="language-sql">select 1</code></pre>') == (
        '<pre><code class="language-sql">select 1</code></pre>'
    )
    with pytest.raises(ParseError, match='Unsupported start tag "div" at byte offset 0'):
        telegram_html("<div>x</div>")
    with pytest.raises(ParseError, match='Can\'t find end tag corresponding to start tag "b"'):
        telegram_html("<b>open")
    with pytest.raises(ParseError, match="Unmatched end tag"):
        telegram_html("<b><i>x</b></i>")


def test_preview_counts_and_refuses() -> None:
    shown = preview("*Pool* paused", "MarkdownV2")
    assert shown.html == "<strong>Pool</strong> paused" and shown.characters == 11 and shown.messages == 1
    assert preview("x" * 5000, "").messages == 2  # potctl send-telegram splits at 4096
    assert preview("   ", "").error == "Bad Request: message text is empty"
    assert preview("Rate 5.2", "MarkdownV2").error.startswith(
        "Bad Request: can't parse entities: Character '.'"
    )
    assert preview("<b>x</b>", "").html == "&lt;b&gt;x&lt;/b&gt;"  # plain text shows tags as typed
    assert preview("x", "BBCode").error == "Bad Request: unsupported parse_mode BBCode"
