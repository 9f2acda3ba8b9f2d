"""The public API is deliberate: exactly these names, each importable from `conveyor`."""

import conveyor

EXPECTED = {
    "SyncFailed",
    "PagingError",
    "Source",
    "PageNumber",
    "Offset",
    "NextUrl",
    "LinkHeader",
    "Incremental",
    "Cursor",
    "Children",
    "Account",
    "Batch",
    "BatchNotFound",
    "BatchView",
    "AccountRejected",
    "AuthorizationError",
    "NeedsReauth",
    "OAuth2AuthorizationCode",
    "SecretKeyError",
    "UnknownAccount",
    "ApiKey",
    "Basic",
    "Bundle",
    "Bearer",
    "Breaker",
    "Connection",
    "ConnectionCheck",
    "DeliveryError",
    "OAuth2ClientCredentials",
    "PermanentStatus",
    "RateLimit",
    "RemoteUnavailable",
    "RetryableStatus",
    "Secret",
    "Timeouts",
    "ConfigurationError",
    "Conveyor",
    "ConveyorError",
    "Discard",
    "Exponential",
    "Fixed",
    "Hmac",
    "StandardWebhooks",
    "WebhookRejected",
    "InvalidStateError",
    "Job",
    "JobContext",
    "JobNotFound",
    "Linear",
    "Middleware",
    "PayloadError",
    "Postpone",
    "Postponed",
    "Retry",
    "Delays",
    "StoreError",
    "StoreUnavailable",
    "Task",
    "TaskNotFound",
    "UnknownConnection",
    "Worker",
    "current_job",
}


def test_public_names() -> None:
    assert set(conveyor.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(conveyor, name) is not None


def test_errors_share_one_root() -> None:
    for name in (
        "ConfigurationError",
        "TaskNotFound",
        "PayloadError",
        "JobNotFound",
        "InvalidStateError",
        "StoreError",
        "StoreUnavailable",
    ):
        assert issubclass(getattr(conveyor, name), conveyor.ConveyorError)
    assert not issubclass(conveyor.Retry, conveyor.ConveyorError)


def test_delivery_errors_keep_their_message() -> None:
    # DeliveryError subclasses also inherit Retry/Discard, whose __init__ takes other arguments.
    assert str(conveyor.RemoteUnavailable("cannot connect")) == "cannot connect"
    assert str(conveyor.RetryableStatus("HTTP 503", after=3)) == "HTTP 503"
    assert str(conveyor.PermanentStatus("HTTP 400")) == "HTTP 400"
