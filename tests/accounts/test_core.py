"""The pure core: PKCE, state, the refresh decision, token answers; and the envelope."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from conveyor.accounts.core import (
    Failed,
    Refused,
    TokenGrant,
    authorize_url,
    challenge,
    new_state,
    new_verifier,
    read_token_answer,
    refresh_due,
    refresh_point,
)
from conveyor.accounts.envelope import Keyring, generate_key, key_id
from conveyor.errors import SecretKeyError


def test_the_pkce_challenge_is_rfc_7636s_example() -> None:
    """RFC 7636, appendix B."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_verifiers_and_states_are_long_random_and_url_safe() -> None:
    verifier = new_verifier()
    assert 43 <= len(verifier) <= 128 and set(verifier) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    )
    assert new_verifier() != verifier
    assert len(new_state()) >= 32 and new_state() != new_state()


def test_the_authorize_url_carries_every_parameter_and_keeps_the_providers_query() -> None:
    url = authorize_url(
        "https://bank.example/auth?tenant=7",
        client_id="app",
        redirect_uri="https://me.example/oauth/bank/callback",
        scopes=("read", "write"),
        state="st",
        verifier="v" * 43,
    )
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.netloc == "bank.example" and parts.path == "/auth"
    assert query == {
        "tenant": "7",
        "response_type": "code",
        "client_id": "app",
        "redirect_uri": "https://me.example/oauth/bank/callback",
        "state": "st",
        "code_challenge": challenge("v" * 43),
        "code_challenge_method": "S256",
        "scope": "read write",
    }


def test_a_token_is_refreshed_a_margin_before_it_expires_or_halfway() -> None:
    assert refresh_point(1000.0, 3600.0, 60.0) == 1000.0 + 3540.0
    assert refresh_point(1000.0, 10.0, 60.0) == 1005.0  # short-lived: halfway
    assert not refresh_due(1005.0, 1004.9)
    assert refresh_due(1005.0, 1005.0)
    assert not refresh_due(None, 10**12)  # no known expiry: used until refused


def test_token_answers() -> None:
    body = json.dumps(
        {"access_token": "a", "refresh_token": "r", "expires_in": 60, "scope": "read"}
    ).encode()
    assert read_token_answer(200, body) == TokenGrant("a", "r", 60.0, "read")
    assert read_token_answer(200, b'{"access_token": "a"}') == TokenGrant("a", None, None, None)
    refused = read_token_answer(400, b'{"error": "invalid_grant", "error_description": "gone"}')
    assert refused == Refused("invalid_grant", "gone")
    assert read_token_answer(503, b"down") == Failed(503, "the token endpoint answered 503", True)
    client = read_token_answer(401, b'{"error": "invalid_client"}')
    assert (
        isinstance(client, Failed) and not client.retryable and "invalid_client" in client.message
    )
    assert isinstance(read_token_answer(200, b"{}"), Failed)


# -- the envelope -------------------------------------------------------------------------------


def test_a_sealed_secret_opens_and_does_not_show_its_plaintext() -> None:
    ring = Keyring.parse(generate_key())
    sealed = ring.seal("s3cr3t-value", "bank\0alice\0token")
    assert "s3cr3t-value" not in sealed and sealed.startswith(f"cv1:{ring.primary}:")
    assert ring.open(sealed, "bank\0alice\0token") == "s3cr3t-value"
    assert ring.seal("s3cr3t-value", "bank\0alice\0token") != sealed  # a fresh nonce each time


def test_an_envelope_moved_to_another_account_does_not_open() -> None:
    ring = Keyring.parse(generate_key())
    sealed = ring.seal("s3cr3t", "bank\0alice\0token")
    with pytest.raises(SecretKeyError, match=r"'bank'/'mallory'.*belongs to another account"):
        ring.open(sealed, "bank\0mallory\0token")


def test_rotation_the_first_key_seals_every_key_opens() -> None:
    old, new = generate_key(), generate_key()
    before = Keyring.parse(old).seal("v", "c\0o\0token")
    both = Keyring.parse(f"{new}, {old}")
    assert both.open(before, "c\0o\0token") == "v"
    assert Keyring.key_of(both.seal("v", "c\0o\0token")) == both.primary != Keyring.key_of(before)


def test_a_missing_or_malformed_key_is_one_clear_line() -> None:
    with pytest.raises(SecretKeyError, match="CONVEYOR_SECRET_KEY is not set"):
        Keyring.parse(None)
    with pytest.raises(SecretKeyError, match="key 2 is not 32 bytes"):
        Keyring.parse(f"{generate_key()},short")
    old = generate_key()
    sealed = Keyring.parse(old).seal("v", "bank\0alice\0token")
    other = Keyring.parse(generate_key())
    with pytest.raises(SecretKeyError) as caught:
        other.open(sealed, "bank\0alice\0token")
    message = str(caught.value)
    assert "\n" not in message
    assert f"sealed with key {key_id(base64.urlsafe_b64decode(old))}, which" in message
