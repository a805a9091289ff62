"""Turning member-written Markdown into HTML that is safe to put on a page.

This is the only place that renders or sanitizes user text. Markdown is parsed by
markdown-it-py (CommonMark, linear time) rather than Python-Markdown, whose inline parser is
quadratic: 4,000 "[" took 4.4 s to render there (see README, "Why markdown-it-py").
bleach is archived upstream, so it stays behind ``sanitize_html``; swapping it means
changing this module alone. The Content-Security-Policy (forum.security) is the second
line of defence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import escape
from typing import Any

import bleach
from bleach.html5lib_shim import Filter
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

MAX_BODY_CHARS = 50_000

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
MENTION_CLASS = "mention"


def _allowed_link_attribute(tag: str, name: str, value: str) -> bool:
    # Only our own mention links carry a class; Markdown cannot write one.
    return name in ("href", "title", "rel") or (name == "class" and value == MENTION_CLASS)


ALLOWED_ATTRIBUTES: dict[str, Any] = {
    "a": _allowed_link_attribute,
    "abbr": ["title"],
    "code": ["class"],
    "td": ["align"],
    "th": ["align"],
}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow ugc noopener"


class BodyTooLong(ValueError):
    """Raised when a body exceeds MAX_BODY_CHARS; checked before any parsing."""


class _LinkRelFilter(Filter):
    """Give every surviving link our rel, replacing whatever the author wrote."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for token in super().__iter__():
            if token["type"] in ("StartTag", "EmptyTag") and token["name"] == "a":
                attrs = dict(token.get("data") or {})
                attrs[(None, "rel")] = LINK_REL
                token["data"] = attrs
            yield token


class _CodeClassFilter(Filter):
    """Keep only ``language-*`` classes on code blocks (for styling), nothing else."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for token in super().__iter__():
            if token["type"] == "StartTag" and token["name"] == "code":
                attrs = dict(token.get("data") or {})
                classes = attrs.get((None, "class"), "").split()
                kept = [c for c in classes if c.startswith("language-") and c[9:].isalnum()]
                if kept:
                    attrs[(None, "class")] = kept[0]
                else:
                    attrs.pop((None, "class"), None)
                token["data"] = attrs
            yield token


_cleaner = bleach.sanitizer.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    protocols=ALLOWED_PROTOCOLS,
    strip=True,
    strip_comments=True,
    filters=[_LinkRelFilter, _CodeClassFilter],
)


def sanitize_html(html: str) -> str:
    """Return ``html`` reduced to the allow-list: safe tags, http(s)/mailto links only."""
    if _PLAIN_MARKUP.fullmatch(html):
        # Already within the allow-list, and bleach would give it back as it is but for the
        # void tags' slash (tests hold the two equal): most posts, at a fraction of the cost
        # of bleach's pure-Python parser.
        return html.replace(" />", ">")
    return _cleaner.clean(html)


# HTML that is text and the Markdown renderer's attribute-less tags only: every "<" opens one
# of these tags, every "&" one of the four entities the renderer writes, and no character is
# one an HTML parser changes or reports (control characters, carriage returns, noncharacters,
# lone surrogates). Anything else (links, images, code classes, tables) goes through bleach.
_PLAIN_TAGS = "p|strong|em|code|pre|blockquote|ul|ol|li|h[1-6]|s"
_PLAIN_MARKUP = re.compile(
    rf"(?:[^<&\x00-\x08\x0b-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\ud800-\udfff]"
    rf"|</?(?:{_PLAIN_TAGS})>|<(?:br|hr) />|&(?:amp|lt|gt|quot);)*"
)


# "@name" where name is a possible username (3-30 letters, digits, "_", "." or "-", not
# ending in "." or "-"), not preceded by a word character (so never inside an email address).
MENTION_PATTERN = re.compile(r"(?<![\w@/])@([A-Za-z0-9_][A-Za-z0-9_.-]{1,28}[A-Za-z0-9_])")

# Given a name written after "@", return the profile path to link to, or None to leave it.
MentionResolver = Callable[[str], str | None]


def _mention_tokens(text: str, resolve: MentionResolver) -> list[Token] | None:
    tokens: list[Token] = []
    position = 0
    for match in MENTION_PATTERN.finditer(text):
        href = resolve(match.group(1))
        if href is None:
            continue
        if match.start() > position:
            tokens.append(Token("text", "", 0, content=text[position : match.start()]))
        tokens.append(Token("link_open", "a", 1, attrs={"href": href, "class": MENTION_CLASS}))
        tokens.append(Token("text", "", 0, content=match.group(0)))
        tokens.append(Token("link_close", "a", -1))
        position = match.end()
    if not tokens:
        return None
    if position < len(text):
        tokens.append(Token("text", "", 0, content=text[position:]))
    return tokens


def _link_mentions(state: StateCore) -> None:
    """Turn "@name" in plain text (not code, not link text) into a link, if resolved."""
    resolve = state.env.get("resolve_mention")
    if resolve is None:
        return
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        inside_link = 0
        for token in block.children:
            if token.type == "link_open":
                inside_link += 1
            elif token.type == "link_close":
                inside_link -= 1
            if token.type == "text" and not inside_link and "@" in token.content:
                replaced = _mention_tokens(token.content, resolve)
                if replaced is not None:
                    children.extend(replaced)
                    continue
            children.append(token)
        block.children = children


def _markdown(links: bool, bare_urls: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": bare_urls})
    md.enable(["table", "strikethrough"])
    if bare_urls:
        md.enable("linkify")
    if not links:
        md.disable(["link", "image", "reference"])
    md.core.ruler.push("mentions", _link_mentions)
    return md


_full_markdown = _markdown(links=True, bare_urls=True)
# Link syntax is the costly part of inline parsing; a body made mostly of brackets is
# rendered with them as plain text so that no body within the size limit is slow. Turning
# bare URLs into links costs about 150 µs each; a body with hundreds of them is spam.
_no_bare_urls_markdown = _markdown(links=True, bare_urls=False)
_plain_markdown = _markdown(links=False, bare_urls=False)
MAX_BARE_URLS = 300
MAX_BRACKETS_FOR_LINKS = 5_000
# bleach's pure-Python parser costs about 35 µs a tag and 20 µs an entity here. HTML that
# would take it longer than about a third of a second is not sanitized but replaced by the body
# as escaped text, which needs no sanitizing: no tag in it is ours or the author's.
MAX_SANITIZE_COST = 8_000
# markdown-it spends about 35 µs on each block (list item, quote, heading, table row); a body
# with thousands of them is no human post and goes straight to plain text.
_BLOCK_START = re.compile(r"^[ \t]*(?:[-*+>#|]|\d{1,9}[.)])", re.MULTILINE)
MAX_BLOCK_MARKERS = 2_000
# Likewise for each line break and each emphasis delimiter (tokens the inline parser makes).
MAX_LINES = 5_000
MAX_EMPHASIS_MARKERS = 10_000


def _sanitize_cost(html: str) -> int:
    return html.count("<") + html.count("&") // 2


def _render_as_text(source: str) -> str:
    paragraphs = (p.strip() for p in source.replace("\r\n", "\n").split("\n\n"))
    return "\n".join(f'<p class="plain">{escape(p)}</p>' for p in paragraphs if p)


def _parser_for(source: str) -> MarkdownIt | None:
    """Return the parser to use for ``source``, or None when it must be plain text."""
    if (
        len(_BLOCK_START.findall(source)) > MAX_BLOCK_MARKERS
        or source.count("\n") > MAX_LINES
        or source.count("*") + source.count("_") > MAX_EMPHASIS_MARKERS
    ):
        return None
    if source.count("[") + source.count("]") > MAX_BRACKETS_FOR_LINKS:
        return _plain_markdown
    if source.count("://") + source.count("www.") + source.count("@") > MAX_BARE_URLS:
        return _no_bare_urls_markdown
    return _full_markdown


@dataclass(frozen=True, slots=True)
class Rendered:
    """A Markdown body as a page shows it (``html``, sanitized) and as search reads it
    (``text``, see plain_text)."""

    html: str
    text: str


def render(source: str, resolve_mention: MentionResolver | None = None) -> Rendered:
    """Return a body's sanitized HTML (as render_markdown) and its plain text (as
    plain_text), both from one parse: parsing is most of the cost of either.

    Mentions change the parsed text into links, never its words, so the text is the one
    plain_text gives. Raises BodyTooLong before parsing when the body is over the limit.
    """
    if len(source) > MAX_BODY_CHARS:
        raise BodyTooLong(f"at most {MAX_BODY_CHARS:,} characters")
    md = _parser_for(source)
    if md is None:
        return Rendered(_render_as_text(source), " ".join(source.split()))
    env = {"resolve_mention": resolve_mention}
    tokens = md.parse(source, env)
    text = _text_of(tokens)
    html = md.renderer.render(tokens, md.options, env)
    if _sanitize_cost(html) > MAX_SANITIZE_COST:
        return Rendered(_render_as_text(source), text)
    return Rendered(sanitize_html(html), text)


def render_markdown(source: str, resolve_mention: MentionResolver | None = None) -> str:
    """Return sanitized HTML for a Markdown body.

    Raw HTML in the source is escaped by the Markdown parser, then the result is sanitized.
    ``resolve_mention`` (see forum.mentions) is asked about each "@name" outside code and
    links; where it returns a path, the mention becomes a link to it. Sanitizing comes last,
    after mentions. Raises BodyTooLong before parsing when the body is over the limit.
    """
    return render(source, resolve_mention).html


_TEXT_TOKENS = frozenset({"text", "code_inline"})
_BREAK_TOKENS = frozenset({"softbreak", "hardbreak"})
_BLOCK_CODE_TOKENS = frozenset({"fence", "code_block"})


def plain_text(source: str) -> str:
    """Return the words a reader sees in a Markdown body, without markup, URLs or HTML.

    Used for the search index and search snippets, which must never hold markup: link
    targets are dropped, link text and code are kept. Raises BodyTooLong as render_markdown.
    """
    if len(source) > MAX_BODY_CHARS:
        raise BodyTooLong(f"at most {MAX_BODY_CHARS:,} characters")
    md = _parser_for(source)
    if md is None:
        return " ".join(source.split())
    return _text_of(md.parse(source))


def _text_of(tokens: list[Token]) -> str:
    parts: list[str] = []
    for token in tokens:
        if token.type in _BLOCK_CODE_TOKENS:
            parts.append(token.content + "\n")
        elif token.type == "inline":
            for child in token.children or ():
                if child.type in _TEXT_TOKENS:
                    parts.append(child.content)
                elif child.type in _BREAK_TOKENS:
                    parts.append(" ")
            parts.append("\n")
    return " ".join("".join(parts).split())
