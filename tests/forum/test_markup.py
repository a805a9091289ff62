"""Markdown rendering and sanitizing: features kept, hostile input neutralised, never slow."""

from __future__ import annotations

import time
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forum.markup import MAX_BODY_CHARS, BodyTooLong, render_markdown, sanitize_html
from tests.hostile import HOSTILE_BODIES, HOSTILE_STRINGS, SAFE_SCHEMES, url_scheme


class _Audit(HTMLParser):
    """Collects everything dangerous a browser would act on in a piece of HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {
            "script",
            "style",
            "iframe",
            "object",
            "embed",
            "svg",
            "math",
            "img",
            "form",
            "input",
            "button",
            "base",
            "link",
            "meta",
            "frame",
            "frameset",
            "video",
            "audio",
            "source",
            "textarea",
            "select",
            "template",
            "noscript",
        }:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in {"style", "srcdoc", "formaction", "src"}:
                self.problems.append(f"attribute {name}")
            if name in {"href", "action", "xlink:href"} and value is not None:
                scheme = url_scheme(value)
                if scheme is not None and scheme not in SAFE_SCHEMES:
                    self.problems.append(f"{name}={value!r}")

    handle_startendtag = handle_starttag


def audit(html: str) -> list[str]:
    parser = _Audit()
    parser.feed(html)
    parser.close()
    return parser.problems


def test_corpus_is_big_enough() -> None:
    assert len(HOSTILE_BODIES) >= 100


@pytest.mark.parametrize("body", HOSTILE_BODIES)
def test_hostile_body_is_neutralised(body: str) -> None:
    html = render_markdown(body)
    assert audit(html) == [], html
    assert "<script" not in html.lower()


@pytest.mark.parametrize("html", HOSTILE_BODIES)
def test_sanitizer_alone_neutralises_raw_html(html: str) -> None:
    assert audit(sanitize_html(html)) == []


def test_markdown_features_survive() -> None:
    html = render_markdown(
        "# Title\n\n**bold** _em_ ~~gone~~ `code`\n\n"
        "```python\nprint('<hi>')\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "> quoted\n\n- one\n- two\n\n"
        "[site](https://example.com) and www.example.org and [mail](mailto:a@example.com)"
    )
    for fragment in (
        "<h1>Title</h1>",
        "<strong>bold</strong>",
        "<em>em</em>",
        "<s>gone</s>",
        "<code>code</code>",
        "<code class=\"language-python\">print('&lt;hi&gt;')",
        "<table>",
        "<td>1</td>",
        "<blockquote>",
        "<li>one</li>",
        '<a href="https://example.com" rel="nofollow ugc noopener">site</a>',
        '<a href="http://www.example.org" rel="nofollow ugc noopener">',
        '<a href="mailto:a@example.com" rel="nofollow ugc noopener">mail</a>',
    ):
        assert fragment in html, fragment


def test_every_link_gets_our_rel() -> None:
    html = sanitize_html('<a href="https://x.example" rel="opener noreferrer">x</a>')
    assert html == '<a href="https://x.example" rel="nofollow ugc noopener">x</a>'


def test_relative_links_survive_for_quotes() -> None:
    assert 'href="/posts/12"' in render_markdown("[wrote](/posts/12)")


def test_size_limit_is_checked_before_parsing() -> None:
    render_markdown("x" * MAX_BODY_CHARS)
    with pytest.raises(BodyTooLong):
        render_markdown("[" * (MAX_BODY_CHARS + 1))


PATHOLOGICAL = {
    "open brackets": "[" * MAX_BODY_CHARS,
    "balanced brackets": "[" * (MAX_BODY_CHARS // 2) + "]" * (MAX_BODY_CHARS // 2),
    "unclosed links": "[a](" * (MAX_BODY_CHARS // 4),
    "unclosed images": "![a](" * (MAX_BODY_CHARS // 5),
    "empty links": "[](" * (MAX_BODY_CHARS // 3),
    "references": "[a][b]" * (MAX_BODY_CHARS // 6),
    "definitions": "[a]: b\n" * (MAX_BODY_CHARS // 7),
    "stars": "*" * MAX_BODY_CHARS,
    "alternating stars": "*a" * (MAX_BODY_CHARS // 2),
    "strong runs": "**a" * (MAX_BODY_CHARS // 3),
    "emphasis words": "*a* " * (MAX_BODY_CHARS // 4),
    "mixed emphasis": "*a **a " * (MAX_BODY_CHARS // 7),
    "underscores": "a_" * (MAX_BODY_CHARS // 2),
    "backticks": "`" * MAX_BODY_CHARS,
    "code spans": "`a` " * (MAX_BODY_CHARS // 4),
    "nested quotes": ">" * MAX_BODY_CHARS,
    "quote lines": "> a\n\n" * (MAX_BODY_CHARS // 5),
    "nested lists": "  - " * (MAX_BODY_CHARS // 4),
    "deep list": "\n".join("  " * i + "- a" for i in range(300))[:MAX_BODY_CHARS],
    "list items": "- a\n" * (MAX_BODY_CHARS // 4),
    "ordered items": "1. a\n" * (MAX_BODY_CHARS // 5),
    "headings": "# a\n" * (MAX_BODY_CHARS // 4),
    "rules": "---\n" * (MAX_BODY_CHARS // 4),
    "setext": "a\n---\n" * (MAX_BODY_CHARS // 6),
    "table rows": "|a|\n|-|\n" + "|a|\n" * ((MAX_BODY_CHARS - 10) // 4),
    "wide table": "|a|b|c|d|e|f|g|h|i|j|\n|-|-|-|-|-|-|-|-|-|-|\n"
    + "|a|b|c|d|e|f|g|h|i|j|\n" * 2200,
    "angle brackets": "<" * MAX_BODY_CHARS,
    "html-ish": "<a" * (MAX_BODY_CHARS // 2),
    "entities": "&#" * (MAX_BODY_CHARS // 2),
    "escapes": "\\" * MAX_BODY_CHARS,
    "specials": '<>&"' * (MAX_BODY_CHARS // 4),
    "lines": "a\n" * (MAX_BODY_CHARS // 2),
    "hard breaks": "a  \n" * (MAX_BODY_CHARS // 4),
    "bare urls": "http://" * (MAX_BODY_CHARS // 7),
    "many urls": " http://a.b" * (MAX_BODY_CHARS // 11),
    "many links": "[a](http://a.com) " * (MAX_BODY_CHARS // 18),
    "emails": "a@" * (MAX_BODY_CHARS // 2),
    "code fence of specials": "```\n" + '<&>"' * 12_400 + "\n```",
}


@pytest.mark.parametrize("body", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_no_body_within_the_limit_takes_a_second(body: str) -> None:
    assert len(body) <= MAX_BODY_CHARS
    started = time.process_time()
    html = render_markdown(body)
    elapsed = time.process_time() - started
    assert elapsed < 1.0, f"{elapsed:.2f}s"
    assert audit(html) == []


# --- mentions and plain text -------------------------------------------------------------


def _resolver(known: set[str]):  # noqa: ANN202
    seen: list[str] = []

    def resolve(name: str) -> str | None:
        if name.lower() not in known:
            return None
        seen.append(name)
        return f"/u/{name.lower()}"

    return resolve, seen


def test_mentions_of_known_names_become_links() -> None:
    resolve, seen = _resolver({"ann", "ben.o"})
    html = render_markdown("Hi @Ann, ask @ben.o. and @nobody", resolve)
    assert '<a href="/u/ann" class="mention" rel="nofollow ugc noopener">@Ann</a>' in html
    assert '<a href="/u/ben.o" class="mention" rel="nofollow ugc noopener">@ben.o</a>.' in html
    assert "@nobody" in html and "/u/nobody" not in html
    assert seen == ["Ann", "ben.o"]


@pytest.mark.parametrize(
    "body",
    [
        "`@ann`",
        "```\n@ann\n```",
        "    @ann indented code",
        "mail ann@example.com",
        "[talk to @ann](https://example.com)",
        "https://example.com/@ann",
        "@@ann",
    ],
)
def test_no_mentions_in_code_links_or_addresses(body: str) -> None:
    resolve, seen = _resolver({"ann"})
    html = render_markdown(body, resolve)
    assert 'class="mention"' not in html
    assert seen == []


def test_a_mention_class_cannot_be_written_by_hand() -> None:
    html = render_markdown('<a href="/x" class="mention">x</a> [y](/y "t")')
    assert 'class="mention"' not in html
    assert (
        sanitize_html('<a href="/u/x" class="evil">x</a>')
        == '<a href="/u/x" rel="nofollow ugc noopener">x</a>'
    )


def test_plain_text_keeps_words_and_drops_markup() -> None:
    from forum.markup import plain_text

    text = plain_text(
        "# Heading\n\n**Bold** and _it_ [link text](https://x.example/secret-url)\n\n"
        "```py\nprint('code')\n```\n\n> quoted <script>alert(1)</script>\n\n- item"
    )
    assert (
        text == "Heading Bold and it link text print('code') quoted <script>alert(1)</script> item"
    )


@pytest.mark.parametrize(
    "body",
    ["@" * MAX_BODY_CHARS, "@ann " * (MAX_BODY_CHARS // 5), "a@" * (MAX_BODY_CHARS // 2)],
    ids=["at signs", "mentions", "addresses"],
)
def test_mention_heavy_bodies_stay_fast(body: str) -> None:
    resolve, _ = _resolver({"ann"})
    started = time.process_time()
    html = render_markdown(body, resolve)
    assert time.process_time() - started < 1.0
    assert audit(html) == []


@pytest.mark.parametrize(
    "body",
    [
        "Hi @ann, see [the **guide**](https://x.example/g) and `@ann in code`.\n\n> @ben said",
        "# Title\n\n- one @Ann\n- two\n\n```py\nprint('@ann')\n```\n\nwww.example.com @ann.",
        "line one  \nline two\n\n| a | b |\n|---|---|\n| @ann | ~~x~~ |",
        "[" * 6_000 + " @ann",  # links off: many brackets
        "@ann https://a.example " * 120,  # bare URLs off: many of them
        "- x\n" * 2_100,  # too many blocks: plain text
        "<b>" * 3_000,  # too costly to sanitize: escaped text
    ],
    ids=["inline", "blocks", "breaks and table", "brackets", "bare urls", "lists", "tags"],
)
def test_render_gives_render_markdown_and_plain_text_from_one_parse(body: str) -> None:
    from forum.markup import plain_text, render

    resolve, _ = _resolver({"ann"})
    rendered = render(body, resolve)
    # The HTML with mentions linked; the text exactly as the search index had it before
    # (plain_text parses with no mentions: linking one changes no word).
    assert rendered.html == render_markdown(body, _resolver({"ann"})[0])
    assert rendered.text == plain_text(body)
    with pytest.raises(BodyTooLong):
        render("x" * (MAX_BODY_CHARS + 1))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab @*_`[]()<>#-\n:/.!|~\\w", max_size=200))
def test_rendered_text_is_plain_text_whatever_the_markdown(body: str) -> None:
    from forum.markup import plain_text, render

    assert render(body, _resolver({"ab", "ann"})[0]).text == plain_text(body)


_MARKDOWNISH = st.lists(
    st.one_of(
        st.sampled_from(list("ab \n\t*_`~#>-+=|.:!()[]<>&\"'\\/\r\x0c\x00\u00a0\ufdd0\u2028")),
        st.sampled_from(["1. ", "- ", "> ", "```\n", "    ", "---\n", "  \n", "&amp;", "&#0;"]),
        st.characters(),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=1_000, deadline=None)
@given(_MARKDOWNISH)
def test_sanitizing_plain_markup_without_bleach_gives_what_bleach_gives(body: str) -> None:
    from forum.markup import _cleaner, _full_markdown, _plain_markdown

    for md in (_full_markdown, _plain_markdown):
        html = md.render(body)
        assert sanitize_html(html) == _cleaner.clean(html)


@pytest.mark.parametrize(
    "body",
    [
        *HOSTILE_STRINGS,
        "Thanks! That **worked**.\n\n> the fee is 10%\n\n- step one\n- step two",
        "## Setup\n\n1. Install\n2. Run `make`\n\n```\nmake bench\n```\n\n---\n\nDone  \nbye",
        "~~old~~ *new* \"quoted\" & <not a tag> 'single'",
    ],
)
def test_known_bodies_sanitize_as_bleach_does(body: str) -> None:
    from forum.markup import _cleaner, _full_markdown

    html = _full_markdown.render(body)
    assert sanitize_html(html) == _cleaner.clean(html)
