"""Response headers that keep the browser on our side: CSP, no sniffing, no framing, and
no shared caching of pages."""

from __future__ import annotations

from flask import Flask, Response

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


def _add_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    # Pages differ by who asks (a member's name, bell and form tokens): no shared cache may
    # keep them, even one that ignores Vary: Cookie. Static files set their own.
    response.headers.setdefault("Cache-Control", "private")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)
