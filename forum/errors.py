"""Error pages for people and JSON errors for the API; never a stack trace."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from forum.permissions import NotFound, PermissionDenied

MESSAGES = {
    400: "The request could not be understood.",
    401: "Sign in, or send a valid API token, to do that.",
    403: "You do not have permission to do that.",
    404: "There is nothing here. It may have been moved, or never existed.",
    405: "That action is not available here.",
    409: "That conflicts with what is already there.",
    413: "That was too large to accept.",
    415: "Send JSON, with the Content-Type application/json.",
    422: "Some values cannot be used.",
    429: "Too many requests. Please wait a little and try again.",
    500: "Something went wrong on our side. It has been logged.",
    503: "Too busy right now. Please try again in a moment.",
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def _render(  # noqa: ANN202 - a response tuple
    status: int, message: str, data: dict | None = None, headers: dict | None = None
):
    headers = dict(headers or {})
    if wants_json():
        # API errors: what went wrong per field travels in "errors" (webargs/flask-smorest
        # put it in the exception's ``data``), e.g. {"json": {"amount_cents": ["…"]}}.
        data = data or {}
        body = {"code": status, "status": HTTP_STATUS_CODES.get(status, "Error"),
                "message": data.get("message", message)}  # fmt: skip
        errors = data.get("errors") or data.get("messages")
        if errors:
            body["errors"] = errors
        return jsonify(body), status, {**headers, **(data.get("headers") or {})}
    return render_template("error.html", status=status, message=message), status, headers


def _http_error(error: HTTPException):  # noqa: ANN202
    status = error.code or 500
    message = MESSAGES.get(status, error.description or "Error")
    if (
        status in (403, 404)
        and error.description
        and not error.description.startswith(("You don't", "The requested URL", "The server"))
    ):
        message = error.description
    if isinstance(error, RateLimitExceeded) and error.limit.error_message:
        message = error.description or message
    # The exception's own headers matter: Allow on a 405 (RFC 9110 requires it),
    # WWW-Authenticate on a 401. The body is ours, so its Content-Type is not.
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return _render(status, message, getattr(error, "data", None), headers)


def _permission_denied(error: PermissionDenied):  # noqa: ANN202
    # A safety net: views turn domain errors into statuses, but one that slips through is
    # still a refusal, never a 500.
    return _render(403, str(error) or MESSAGES[403])


def _not_found(error: NotFound):  # noqa: ANN202
    return _render(404, MESSAGES[404])


def _csrf_error(error: CSRFError):  # noqa: ANN202
    return _render(400, "The form expired or was sent from elsewhere. Please try again.")


def _unexpected(error: Exception):  # noqa: ANN202
    from flask import current_app

    current_app.logger.exception("unhandled error", exc_info=error)
    return _render(500, MESSAGES[500])


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(PermissionDenied, _permission_denied)
    app.register_error_handler(NotFound, _not_found)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _unexpected)
    app.register_error_handler(Exception, _unexpected)
