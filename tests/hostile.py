"""A corpus of hostile strings and an HTML audit that reads pages as a browser would."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.forum.test_markup import HOSTILE_BODIES

SAFE_SCHEMES = {"http", "https", "mailto"}
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):")

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
    """Return the scheme a browser would read from ``url``, or None when it is relative."""
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
