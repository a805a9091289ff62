"""Response headers that keep the browser on our side: CSP, no sniffing, no framing, and
no shared caching of pages."""

from __future__ import annotations

from typing import Any

# No inline script or style and nothing from other origins: if sanitizing ever failed, the
# browser would still refuse to run what slipped through.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


# Pages differ by who asks (a member's name, bell and form tokens): no shared cache may keep
# them, even one that ignores Vary: Cookie. Static files and the click redirect set their own.
DEFAULT_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cache-Control", "private"),
)


class SecurityHeaders:
    """WSGI middleware adding each of ``DEFAULT_HEADERS`` a response does not set itself.

    On the list of header pairs the server is handed, not on Flask's ``Headers``: six
    ``setdefault`` calls there (each a case-insensitive scan) cost more than a hello-world
    page's whole view, on every request.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Any) -> Any:
        def start_with_defaults(status: str, headers: list, exc_info: Any = None) -> Any:
            present = {name.lower() for name, _value in headers}
            headers.extend(
                (name, value) for name, value in DEFAULT_HEADERS if name.lower() not in present
            )
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_defaults)
