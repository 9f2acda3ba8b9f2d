"""The verifiers, pure: signatures made by the independent `standardwebhooks` package (and by
hashlib for the HMAC header schemes), checked against a clock passed in."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook as Signer

from conveyor import Hmac, StandardWebhooks
from conveyor.errors import ConfigurationError, WebhookRejected

SECRET = "whsec_" + base64.b64encode(b"a test secret of 32 bytes, ok!!!").decode()
NOW = 1_800_000_000
BODY = b'{"type": "workout", "id": 7}'


def signed(body: bytes = BODY, at: int = NOW, msg_id: str = "msg_1", secret: str = SECRET) -> dict:
    signature = Signer(secret).sign(msg_id, datetime.fromtimestamp(at, UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": signature}


def refused(verifier: object, headers: dict, body: bytes = BODY, now: float = NOW) -> str:
    with pytest.raises(WebhookRejected) as raised:
        verifier.verify(headers, body, now)  # type: ignore[attr-defined]
    assert raised.value.status == 401
    return str(raised.value)


def test_a_standard_webhooks_signature_passes() -> None:
    StandardWebhooks(SECRET).verify(signed(), BODY, NOW)


def test_the_senders_own_check_agrees() -> None:
    """The test signer's verify accepts what we accept: the two read the spec alike."""
    headers = signed(at=int(datetime.now(UTC).timestamp()))
    Signer(SECRET).verify(BODY, headers)
    StandardWebhooks(SECRET).verify(headers, BODY, float(headers["webhook-timestamp"]))


def test_a_changed_body_fails() -> None:
    assert "does not match" in refused(StandardWebhooks(SECRET), signed(), BODY + b" ")


def test_another_secret_fails() -> None:
    other = "whsec_" + base64.b64encode(b"another secret").decode()
    assert "does not match" in refused(StandardWebhooks(SECRET), signed(secret=other))


def test_one_of_several_signatures_is_enough() -> None:
    """A sender rotating its secret signs with the old and the new one."""
    other = "whsec_" + base64.b64encode(b"the old secret").decode()
    headers = signed(secret=other)
    headers["webhook-signature"] += " v2,zzz v1,not-base64!! " + signed()["webhook-signature"]
    StandardWebhooks(SECRET).verify(headers, BODY, NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_fails_naming_it(missing: str) -> None:
    headers = signed()
    del headers[missing]
    assert missing in refused(StandardWebhooks(SECRET), headers)


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86400])
def test_a_timestamp_over_5_minutes_off_either_way_fails(offset: int) -> None:
    message = refused(StandardWebhooks(SECRET), signed(at=NOW + offset))
    assert "more than 300 s off" in message


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_a_timestamp_within_5_minutes_passes(offset: int) -> None:
    StandardWebhooks(SECRET).verify(signed(at=NOW + offset), BODY, NOW)


def test_the_id_is_signed() -> None:
    headers = signed()
    headers["webhook-id"] = "msg_2"
    refused(StandardWebhooks(SECRET), headers)


def test_a_non_numeric_timestamp_fails() -> None:
    headers = signed()
    headers["webhook-timestamp"] = "yesterday"
    assert "Unix timestamp" in refused(StandardWebhooks(SECRET), headers)


def test_the_secret_never_shows() -> None:
    verifier = StandardWebhooks(SECRET)
    message = refused(verifier, signed(secret="whsec_" + base64.b64encode(b"x").decode()))
    raw = base64.b64decode(SECRET[6:])
    for text in (message, repr(verifier), str(verifier.secret)):
        assert SECRET not in text and SECRET[6:] not in text and raw.decode() not in text


def test_a_missing_env_secret_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_SECRET_VAR", raising=False)
    with pytest.raises(ConfigurationError, match="NO_SUCH_SECRET_VAR"):
        StandardWebhooks("env:NO_SUCH_SECRET_VAR").check()
    monkeypatch.setenv("NO_SUCH_SECRET_VAR", SECRET)
    StandardWebhooks("env:NO_SUCH_SECRET_VAR").verify(signed(), BODY, NOW)


# -- Hmac ------------------------------------------------------------------------------------


def github(body: bytes, secret: str = "s3cret") -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


GITHUB = Hmac(header="X-Hub-Signature-256", secret="s3cret", prefix="sha256=")


def test_a_github_signature_passes() -> None:
    GITHUB.verify({"x-hub-signature-256": github(BODY)}, BODY, NOW)


def test_a_github_signature_of_another_body_fails() -> None:
    assert "does not match" in refused(GITHUB, {"x-hub-signature-256": github(b"{}")})


def test_hmac_missing_header_or_prefix_fails() -> None:
    assert "missing x-hub-signature-256" in refused(GITHUB, {})
    bare = github(BODY).removeprefix("sha256=")
    assert "does not start with 'sha256='" in refused(GITHUB, {"x-hub-signature-256": bare})


def test_hmac_base64_sha1_and_sha512() -> None:
    for algorithm in ("sha1", "sha512"):
        verifier = Hmac(header="X-Sig", secret="k", algorithm=algorithm, encoding="base64")
        digest = base64.b64encode(hmac.new(b"k", BODY, algorithm).digest()).decode()
        verifier.verify({"x-sig": digest}, BODY, NOW)
        refused(verifier, {"x-sig": digest}, BODY + b"!")


def test_hmac_not_hex_fails() -> None:
    assert "does not match" in refused(GITHUB, {"x-hub-signature-256": "sha256=zz"})


def test_hmac_with_a_signed_timestamp() -> None:
    """Slack's scheme: `v0:{timestamp}:{body}`, `v0=<hex>`, the timestamp within 5 minutes."""
    slack = Hmac(
        header="X-Slack-Signature",
        secret="k",
        prefix="v0=",
        timestamp_header="X-Slack-Request-Timestamp",
        signed="v0:{timestamp}:{body}",
    )

    def headers(at: int) -> dict:
        mac = hmac.new(b"k", f"v0:{at}:".encode() + BODY, hashlib.sha256).hexdigest()
        return {"x-slack-signature": f"v0={mac}", "x-slack-request-timestamp": str(at)}

    slack.verify(headers(NOW - 10), BODY, NOW)
    assert "more than 300 s off" in refused(slack, headers(NOW - 400))
    moved = headers(NOW - 10)
    moved["x-slack-request-timestamp"] = str(NOW)  # the timestamp is part of what is signed
    assert "does not match" in refused(slack, moved)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"algorithm": "md5"}, "unknown algorithm 'md5'"),
        ({"encoding": "base32"}, "unknown encoding 'base32'"),
        ({"header": " "}, "header's name is required"),
        ({"signed": "{timestamp}"}, "needs {body} exactly once"),
        ({"signed": "{timestamp}.{body}"}, "needs timestamp_header"),
        ({"secret": ""}, "cannot be empty"),
        ({"tolerance": 0}, "tolerance must be a positive"),
    ],
)
def test_bad_hmac_options(options: dict, message: str) -> None:
    arguments = {"header": "X-Sig", "secret": "k", **options}
    with pytest.raises(ConfigurationError, match=message.replace("{", r"\{").replace("(", r"\(")):
        Hmac(**arguments)
