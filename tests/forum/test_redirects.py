"""Redirect targets never leave the site."""

from __future__ import annotations

import pytest

from forum.redirects import safe_local_path

OFF_SITE = [
    "https://evil.example",
    "http://evil.example/x",
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    " //evil.example",
    "\t//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,x",
    "https:evil.example",
    "http:/evil.example",
    "evil.example",
    "@evil.example",
    "https://townhall.test@evil.example",
    "//townhall.test@evil.example",
    "/%0d/evil.example\r",
    "\x00//evil.example",
    "/\x00/evil.example",
    "mailto:x@evil.example",
    "ftp://evil.example",
    "%2F%2Fevil.example",
    "\u3000//evil.example",
    "/" + "a" * 3000,
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_off_site_targets_fall_back(target: str) -> None:
    assert safe_local_path(target, "/home") == "/home"


@pytest.mark.parametrize("target", ["/", "/b/general", "/t/1?page=2#post-5", "/u/ann", "/%2F%2Fx"])
def test_local_paths_are_kept(target: str) -> None:
    assert safe_local_path(target) == target


def test_sign_in_next_cannot_leave_the_site(app, client, member) -> None:
    from tests.conftest import TEST_PASSWORD, csrf_token

    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in?next=//evil.example/steal",
        data={"csrf_token": token, "login": "ann", "password": TEST_PASSWORD},
    )
    assert response.status_code == 302
    assert response.location in ("/", "http://townhall.test/")
