"""The Telegram editor's preview: a message as Telegram shows it, or the error the Bot API would give.

Pure functions, called by the console's preview route. Each parse mode follows the Bot API's
formatting rules (MarkdownV2, the legacy Markdown, HTML; plain text otherwise): the entities it
supports become safe HTML (every piece of the user's text escaped, links only with web or tg:
schemes), and text Telegram would refuse gives Telegram's own sentence ("can't parse entities:
...") instead of a preview, so a person sees the refusal before sending.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from html.parser import HTMLParser

from pot_alerts.senders import split_text

# How each entity shows in the preview: the tag the console's stylesheet dresses like Telegram.
_TAGS = {
    "Bold": ("<strong>", "</strong>"),
    "Italic": ("<em>", "</em>"),
    "Underline": ("<u>", "</u>"),
    "Strikethrough": ("<s>", "</s>"),
    "Spoiler": ('<span class="tg-spoiler">', "</span>"),
    "Code": ("<code>", "</code>"),
    "Pre": ("<pre>", "</pre>"),
    "Blockquote": ("<blockquote>", "</blockquote>"),
    "ExpandableBlockquote": ('<blockquote class="tg-expandable">', "</blockquote>"),
}
_SAFE_SCHEMES = ("http://", "https://", "tg://", "mailto:")
MARKDOWN_V2_RESERVED = "_*[]()~`>#+-=|{}.!"
PARSE_MODES = ("", "MarkdownV2", "Markdown", "HTML")


class ParseError(ValueError):
    """Text the Bot API would refuse; str() is the sentence it answers with."""


@dataclass(frozen=True)
class Preview:
    """What the editor shows: the message as HTML, or the Bot API's refusal; and how many messages."""

    html: str = ""
    error: str = ""
    characters: int = 0
    messages: int = 0


@dataclass
class _Node:
    kind: str  # an entity name, or "" for the root
    offset: int  # where its marker began (UTF-8 bytes), for error messages
    parts: list[str] = field(default_factory=list)
    url: str = ""
    language: str = ""


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _link(url: str, inner: str) -> str:
    if url.lower().startswith(_SAFE_SCHEMES):
        return f'<a href="{html.escape(url, quote=True)}" rel="noopener noreferrer nofollow">{inner}</a>'
    return f'<span class="tg-link">{inner}</span>'


def _close(node: _Node) -> str:
    inner = "".join(node.parts)
    if node.kind == "TextUrl":
        return _link(node.url, inner)
    if node.kind == "CustomEmoji":
        return f'<span class="tg-emoji">{inner}</span>'
    if node.kind == "Pre" and node.language:
        return f'<pre><code class="language-{html.escape(node.language)}">{inner}</code></pre>'
    start, end = _TAGS[node.kind]
    return start + inner + end


def _reserved(char: str) -> ParseError:
    return ParseError(f"Character '{char}' is reserved and must be escaped with the preceding '\\'")


def _unclosed(node: _Node) -> ParseError:
    return ParseError(f"Can't find end of {node.kind} entity at byte offset {node.offset}")


def _ends(top: _Node, text: str, i: int) -> int:
    """How many characters close `top` at text[i], or 0 when text[i] does not end it."""
    c, after = text[i], text[i + 1 : i + 2]
    match top.kind:
        case "Bold":
            return 1 if c == "*" else 0
        case "Italic":
            return 1 if c == "_" and after != "_" else 0
        case "Underline":
            return 2 if text.startswith("__", i) else 0
        case "Strikethrough":
            return 1 if c == "~" else 0
        case "Spoiler":
            return 2 if text.startswith("||", i) else 0
        case "Code":
            return 1 if c == "`" else 0
        case "Pre":
            return 3 if text.startswith("```", i) else 0
        case "TextUrl" | "CustomEmoji":
            return 1 if c == "]" else 0
    return 0


def _opens(text: str, i: int) -> tuple[str, int]:
    """The entity a marker at text[i] opens and the marker's length; ParseError when it opens none."""
    c = text[i]
    if c == "_":
        return ("Underline", 2) if text.startswith("__", i) else ("Italic", 1)
    if c == "*":
        return "Bold", 1
    if c == "~":
        return "Strikethrough", 1
    if c == "|" and text.startswith("||", i):
        return "Spoiler", 2
    if c == "[":
        return "TextUrl", 1
    if c == "!" and text.startswith("![", i):
        return "CustomEmoji", 2
    if c == "`":
        return ("Pre", 3) if text.startswith("```", i) else ("Code", 1)
    raise _reserved(c)


def _link_target(text: str, i: int) -> tuple[str, int]:
    """The (...) after a link's `]` at text[i-1]: its URL and the index after it; `)` and `\\` escaped."""
    if not text.startswith("(", i):
        return "", i
    url: list[str] = []
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\" and j + 1 < len(text) and 0 < ord(text[j + 1]) <= 126:
            url.append(text[j + 1])
            j += 2
            continue
        if c == ")":
            return "".join(url), j + 1
        url.append(c)
        j += 1
    raise ParseError(f"Can't find end of a URL at byte offset {_byte_offset(text, i)}")


def markdown_v2(text: str) -> str:
    """MarkdownV2 as the Bot API parses it; ParseError with its message when it would refuse."""
    stack = [_Node("", 0)]
    i = 0
    while i < len(text):
        c = text[i]
        top = stack[-1]
        at_line_start = i == 0 or text[i - 1] == "\n"
        if c == "\\" and i + 1 < len(text) and 0 < ord(text[i + 1]) <= 126:
            top.parts.append(html.escape(text[i + 1]))
            i += 2
            continue
        if top.kind not in ("Code", "Pre") and at_line_start and (c == ">" or text.startswith("**>", i)):
            if top.kind not in ("Blockquote", "ExpandableBlockquote"):
                kind = "ExpandableBlockquote" if c == "*" else "Blockquote"
                stack.append(_Node(kind, _byte_offset(text, i)))
            i += 3 if c == "*" else 1
            continue
        if (
            c == "\n"
            and top.kind in ("Blockquote", "ExpandableBlockquote")
            and not text.startswith(">", i + 1)
        ):
            stack.pop()
            stack[-1].parts.append(_close(top) + "\n")
            i += 1
            continue
        if (
            top.kind == "ExpandableBlockquote"
            and text.startswith("||", i)
            and text[i + 2 : i + 3] in ("", "\n")
        ):
            i += 2  # the expandability mark ends the quotation's last line
            continue
        reserved = "`" if top.kind in ("Code", "Pre") else MARKDOWN_V2_RESERVED
        if c not in reserved:
            top.parts.append(html.escape(c))
            i += 1
            continue
        closing = _ends(top, text, i) if len(stack) > 1 else 0
        if closing:
            stack.pop()
            i += closing
            if top.kind in ("TextUrl", "CustomEmoji"):
                top.url, i = _link_target(text, i)
                if not top.url and top.kind == "TextUrl":
                    top.url = html.unescape("".join(top.parts))
            stack[-1].parts.append(_close(top))
            continue
        kind, length = _opens(text, i)
        if any(n.kind == kind for n in stack):
            raise _unclosed(next(n for n in stack if n.kind == kind))
        node = _Node(kind, _byte_offset(text, i))
        i += length
        if kind == "Pre":
            # ```language on the opening line names the code's language; the newline after it is not text.
            end = text.find("\n", i)
            first = text[i:end] if end != -1 else ""
            if end != -1 and first and all(ch.isalnum() or ch in "+-_#." for ch in first):
                node.language, i = first, end + 1
            elif text.startswith("\n", i):
                i += 1
        stack.append(node)
    while stack[-1].kind in ("Blockquote", "ExpandableBlockquote"):
        quote = stack.pop()
        stack[-1].parts.append(_close(quote))
    if len(stack) > 1:
        raise _unclosed(stack[1])
    return "".join(stack[0].parts)


_LEGACY = {"*": "Bold", "_": "Italic", "`": "Code"}


def markdown_legacy(text: str) -> str:
    """The legacy Markdown mode: *bold*, _italic_, `code`, ```pre```, [text](url); entities never nest."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and text[i + 1 : i + 2] in ("_", "*", "`", "["):
            out.append(html.escape(text[i + 1]))
            i += 2
            continue
        if c == "`" and text.startswith("```", i):
            end = text.find("```", i + 3)
            if end == -1:
                raise ParseError(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}"
                )
            body = text[i + 3 : end]
            first, newline, rest = body.partition("\n")
            if newline and first and all(ch.isalnum() or ch in "+-_#." for ch in first):
                body = rest
            out.append(_close(_Node("Pre", 0, [html.escape(body)])))
            i = end + 3
            continue
        if c in _LEGACY:
            end = text.find(c, i + 1)
            if end == -1:
                raise ParseError(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}"
                )
            out.append(_close(_Node(_LEGACY[c], 0, [html.escape(text[i + 1 : end])])))
            i = end + 1
            continue
        if c == "[":
            close = text.find("]", i + 1)
            if close != -1 and text.startswith("(", close + 1) and (stop := text.find(")", close + 2)) != -1:
                out.append(_link(text[close + 2 : stop], html.escape(text[i + 1 : close])))
                i = stop + 1
                continue
            raise ParseError(f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}")
        out.append(html.escape(c))
        i += 1
    return "".join(out)


# The Bot API's HTML: these tags (and their aliases) and no others; attributes only where named.
_HTML_TAGS = {
    "b": "Bold",
    "strong": "Bold",
    "i": "Italic",
    "em": "Italic",
    "u": "Underline",
    "ins": "Underline",
    "s": "Strikethrough",
    "strike": "Strikethrough",
    "del": "Strikethrough",
    "tg-spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "blockquote": "Blockquote",
    "a": "TextUrl",
    "tg-emoji": "CustomEmoji",
    "span": "Spoiler",
}


class _TelegramHtml(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.stack = [_Node("", 0)]
        self.names: list[str] = []

    def _offset(self) -> int:
        line, column = self.getpos()
        lines = self.source.split("\n")
        index = sum(len(x) + 1 for x in lines[: line - 1]) + column
        return _byte_offset(self.source, index)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kind = _HTML_TAGS.get(tag)
        values = dict(attrs)
        if kind is None or (tag == "span" and values.get("class") != "tg-spoiler"):
            raise ParseError(f'Unsupported start tag "{tag}" at byte offset {self._offset()}')
        node = _Node(kind, self._offset())
        if tag == "a":
            node.url = values.get("href") or ""
        if tag == "blockquote" and "expandable" in values:
            node.kind = "ExpandableBlockquote"
        top = self.stack[-1]
        if tag == "code" and top.kind == "Pre":
            language = (values.get("class") or "").removeprefix("language-")
            top.language = language
            node = _Node("PreCode", node.offset)
        self.stack.append(node)
        self.names.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.names:
            raise ParseError(f"Unexpected end tag at byte offset {self._offset()}")
        if self.names[-1] != tag:
            expected = self.names[-1]
            raise ParseError(
                f"Unmatched end tag at byte offset {self._offset()}, "
                f'expected "</{expected}>", found "</{tag}>"'
            )
        self.names.pop()
        node = self.stack.pop()
        closed = "".join(node.parts) if node.kind == "PreCode" else _close(node)
        self.stack[-1].parts.append(closed)

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(html.escape(data))


def telegram_html(text: str) -> str:
    """The HTML parse mode: only Telegram's tags, every tag closed; text is escaped again for the page."""
    parser = _TelegramHtml(text)
    parser.feed(text)
    parser.close()
    if parser.names:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{parser.names[-1]}"')
    return "".join(parser.stack[0].parts)


def visible_length(rendered: str) -> int:
    """Characters the recipient sees (what the 4096 limit counts), from the preview's HTML."""

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.count = 0

        def handle_data(self, data: str) -> None:
            self.count += len(data)

    counter = Text()
    counter.feed(rendered)
    counter.close()
    return counter.count


def preview(text: str, parse_mode: str) -> Preview:
    """The message as Telegram would show it in `parse_mode` ("" for plain text), or its refusal."""
    if not text.strip():
        return Preview(error="Bad Request: message text is empty")
    try:
        if parse_mode == "MarkdownV2":
            rendered = markdown_v2(text)
        elif parse_mode == "Markdown":
            rendered = markdown_legacy(text)
        elif parse_mode == "HTML":
            rendered = telegram_html(text)
        elif parse_mode == "":
            rendered = html.escape(text)
        else:
            return Preview(error=f"Bad Request: unsupported parse_mode {parse_mode}")
    except ParseError as error:
        return Preview(error=f"Bad Request: can't parse entities: {error}")
    characters = visible_length(rendered)
    # potctl send-telegram splits the text it is given, before Telegram parses it.
    return Preview(html=rendered, characters=characters, messages=len(split_text(text)))
