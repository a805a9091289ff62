"""Registering and authenticating members."""

from __future__ import annotations

import pytest

from forum.accounts import service
from forum.extensions import db
from tests.conftest import FAST_PASSWORD_HASH, TEST_PASSWORD, make_user


def _signup(
    username="newbie", email="newbie@example.com", password=TEST_PASSWORD, hires=True, works=False
):  # noqa: ANN001, ANN202
    return service.register(
        db.session, service.SignUp(username, email, password, hires, works), FAST_PASSWORD_HASH
    )


def test_register_hashes_the_password(app) -> None:
    user = _signup()
    assert user.password_hash.startswith("scrypt:")
    assert TEST_PASSWORD not in user.password_hash


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"username": "ab"}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "<script>"}, "username"),
        ({"username": "x" * 31}, "username"),
        ({"username": ".dot"}, "username"),
        ({"password": "short"}, "password"),
        ({"hires": False, "works": False}, "kind"),
    ],
)
def test_register_refuses_bad_values(app, kwargs, field) -> None:
    with pytest.raises(service.AccountError) as error:
        _signup(**kwargs)
    assert error.value.field == field


def test_usernames_and_emails_are_unique_case_insensitively(app) -> None:
    make_user("Alice", email="Alice@Example.com")
    with pytest.raises(service.AccountError) as error:
        _signup(username="aLiCe", email="other@example.com")
    assert error.value.field == "username"
    with pytest.raises(service.AccountError) as error:
        _signup(username="alice2", email="  ALICE@example.COM ")
    assert error.value.field == "email"


def test_authenticate_by_username_or_email_any_case(app) -> None:
    user = make_user("Dora", email="dora@example.com")
    assert service.authenticate(db.session, "DORA", TEST_PASSWORD) == user
    assert service.authenticate(db.session, "Dora@Example.com", TEST_PASSWORD) == user
    assert service.authenticate(db.session, "dora", "wrong password!") is None
    assert service.authenticate(db.session, "nobody", TEST_PASSWORD) is None


def test_change_password_checks_the_current_one(app) -> None:
    user = make_user()
    with pytest.raises(service.AccountError) as error:
        service.change_password(db.session, user, "wrong", "a new password!", FAST_PASSWORD_HASH)
    assert error.value.field == "current_password"
    with pytest.raises(service.AccountError) as error:
        service.change_password(db.session, user, TEST_PASSWORD, "short", FAST_PASSWORD_HASH)
    assert error.value.field == "new_password"
    service.change_password(db.session, user, TEST_PASSWORD, "a new password!", FAST_PASSWORD_HASH)
    assert service.authenticate(db.session, user.username, "a new password!") == user
