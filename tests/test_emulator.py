"""Tests of the SES v2 emulator over real HTTP with real boto3 (and urllib for the raw wire)."""

from __future__ import annotations

import http.client
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config
from service_model import validate_output

from airflow_provider_sesinsights.emulator import (
    FAULT_KINDS,
    CallRecord,
    EmulatorState,
    InvalidRequestError,
    SesEmulator,
    isp_for,
)
from airflow_provider_sesinsights.emulator.__main__ import main as cli_main
from airflow_provider_sesinsights.emulator.state import RateLimiter

ACCESS_KEY = "AKIDEMULATOR"
FAKE_AUTH = (
    f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/us-east-1/ses/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=0000"
)
SIMPLE_CONTENT = {"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hello there"}}}}
REPO_ROOT = Path(__file__).resolve().parent.parent


def make_client(
    emu: SesEmulator,
    key: str = ACCESS_KEY,
    *,
    attempts: int = 1,
    read_timeout: float = 5.0,
) -> Any:
    """Return a real boto3 sesv2 client pointed at the emulator, retrying (standard mode) only when asked."""
    config = Config(
        retries={"total_max_attempts": attempts, "mode": "standard"},
        read_timeout=read_timeout,
        connect_timeout=2,
    )
    return boto3.client(
        "sesv2",
        endpoint_url=emu.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key="emulator-secret",
        config=config,
    )


def raw_request(
    emu: SesEmulator, method: str, path: str, payload: Any = None, *, auth: bool = True
) -> tuple[int, dict[str, str], bytes]:
    """Send one request with urllib and return status, headers (lower-cased) and raw body."""
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = FAKE_AUTH
    request = urllib.request.Request(emu.endpoint_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def raw_insights(emu: SesEmulator, message_id: str) -> tuple[int, dict[str, str], bytes]:
    """Fetch GetMessageInsights with urllib (no botocore parsing in between)."""
    return raw_request(emu, "GET", f"/v2/email/insights/{quote(message_id, safe='')}/")


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0, step: float = 0.05) -> bool:
    """Poll ``predicate`` for at most ``timeout`` seconds (bounded loop)."""
    for _ in range(int(timeout / step) + 1):
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def event_types(response: dict[str, Any], index: int = 0) -> list[str]:
    """Return the event types of the ``index``-th destination of an insights response."""
    return [event["Type"] for event in response["Insights"][index]["Events"]]


@pytest.fixture
def emu() -> Iterator[SesEmulator]:
    """An unthrottled emulator with fast generated timelines."""
    with SesEmulator(rate=None, delivery_delay=0.2) as emulator:
        yield emulator


def test_scripted_message_round_trip(emu: SesEmulator) -> None:
    day = 1767225600.0
    message_id = emu.add_message(
        "0100019a-test/id+with=odd~chars%",
        recipients=[
            {
                "destination": "ann@gmail.com",
                "events": [
                    {"type": "DELIVERY", "at": day + 2.5},
                    {"type": "SEND", "at": day},
                ],
            },
            {
                "destination": "Bob <bob@example.org>",
                "isp": "Custom ISP",
                "events": [
                    {"type": "SEND", "at": day},
                    {
                        "type": "BOUNCE",
                        "at": day + 1,
                        "bounce": {"BounceType": "TRANSIENT", "BounceSubType": "MailboxFull"},
                    },
                ],
            },
        ],
        from_address="news@example.com",
        subject="Weekly news",
        tags={"campaign": "spring"},
    )
    response = make_client(emu).get_message_insights(MessageId=message_id)
    assert response["MessageId"] == message_id
    assert response["FromEmailAddress"] == "news@example.com"
    assert response["Subject"] == "Weekly news"
    assert response["EmailTags"] == [{"Name": "campaign", "Value": "spring"}]
    first, second = response["Insights"]
    assert (first["Destination"], first["Isp"]) == ("ann@gmail.com", "Gmail")
    assert (second["Destination"], second["Isp"]) == ("bob@example.org", "Custom ISP")
    assert [e["Type"] for e in first["Events"]] == ["SEND", "DELIVERY"]
    stamp = first["Events"][1]["Timestamp"]
    assert isinstance(stamp, datetime)
    assert stamp.tzinfo is not None
    assert stamp == datetime.fromtimestamp(day + 2.5, tz=timezone.utc)
    assert "Details" not in first["Events"][0]
    assert second["Events"][1]["Details"] == {
        "Bounce": {"BounceType": "TRANSIENT", "BounceSubType": "MailboxFull"}
    }
    assert response["ResponseMetadata"]["RequestId"]


def test_endpoint_from_environment_variable(emu: SesEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    message_id = emu.add_message()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", emu.endpoint_url)
    client = boto3.client(
        "sesv2",
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="emulator-secret",
    )
    assert client.get_message_insights(MessageId=message_id)["MessageId"] == message_id


def test_events_appear_over_time(emu: SesEmulator) -> None:
    message_id = emu.add_message(
        recipients=[
            {
                "destination": "c@yahoo.co.uk",
                "events": [
                    {"type": "SEND", "after": 0.0},
                    {"type": "DELIVERY", "after": 0.3},
                    {"type": "OPEN", "after": 0.6},
                ],
            }
        ]
    )
    client = make_client(emu)
    assert event_types(client.get_message_insights(MessageId=message_id)) == ["SEND"]
    assert wait_until(lambda: len(event_types(client.get_message_insights(MessageId=message_id))) == 3)
    response = client.get_message_insights(MessageId=message_id)
    assert event_types(response) == ["SEND", "DELIVERY", "OPEN"]
    assert response["Insights"][0]["Isp"] == "Yahoo"


def test_visible_after_answers_not_found_until_then(emu: SesEmulator) -> None:
    message_id = emu.add_message(visible_after=0.3)
    client = make_client(emu)
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_message_insights(MessageId=message_id)
    time.sleep(0.35)
    assert client.get_message_insights(MessageId=message_id)["MessageId"] == message_id


def test_errors_map_to_modeled_exceptions(emu: SesEmulator) -> None:
    client = make_client(emu)
    with pytest.raises(client.exceptions.NotFoundException) as not_found:
        client.get_message_insights(MessageId="no-such-message")
    error = not_found.value.response
    assert error["Error"]["Code"] == "NotFoundException"
    assert "no-such-message" in error["Error"]["Message"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["ResponseMetadata"]["RequestId"]
    with pytest.raises(client.exceptions.BadRequestException):
        client.get_message_insights(MessageId="x" * 300)
    with pytest.raises(client.exceptions.BadRequestException):
        client.get_message_insights(MessageId="has space")
    emu.set_rate(1.0)
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_message_insights(MessageId="no-such-message")
    with pytest.raises(client.exceptions.TooManyRequestsException) as throttled:
        client.get_message_insights(MessageId="no-such-message")
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_error_wire_format(emu: SesEmulator) -> None:
    status, headers, body = raw_insights(emu, "missing")
    assert status == 404
    assert headers["x-amzn-errortype"] == "NotFoundException"
    assert headers["content-type"] == "application/json"
    assert headers["x-amzn-requestid"]
    assert json.loads(body) == {"message": "Message missing was not found."}
    status, headers, body = raw_request(emu, "GET", "/v2/email/nothing-here")
    assert status == 404
    assert headers["x-amzn-errortype"] == "UnknownOperationException"
    assert headers["x-amzn-requestid"]
    status, headers, body = raw_request(emu, "OPTIONS", "/v2/email/outbound-emails")
    assert status == 501
    assert headers["x-amzn-errortype"] == "UnknownOperationException"
    assert headers["x-amzn-requestid"]
    assert "OPTIONS" in json.loads(body)["message"]


def test_rate_limit_second_quick_call_is_throttled_and_logged() -> None:
    with SesEmulator(rate=1.0) as emu:
        message_id = emu.add_message()
        client = make_client(emu)
        client.get_message_insights(MessageId=message_id)
        with pytest.raises(client.exceptions.TooManyRequestsException):
            client.get_message_insights(MessageId=message_id)
        calls = emu.calls
        assert [(c.operation, c.status, c.error_code) for c in calls] == [
            ("GetMessageInsights", 200, None),
            ("GetMessageInsights", 429, "TooManyRequestsException"),
        ]
        assert all(c.account == ACCESS_KEY and c.message_id == message_id for c in calls)
        assert calls[0].monotonic < calls[1].monotonic
        assert emu.throttled_count() == 1
        make_client(emu, "AKIDOTHERACCOUNT").get_message_insights(MessageId=message_id)
        assert emu.calls[-1].account == "AKIDOTHERACCOUNT"
        assert emu.calls[-1].status == 200
        emu.clear_calls()
        assert emu.calls == []
        assert emu.throttled_count() == 0


def test_rate_limit_concurrent_calls_let_exactly_one_through() -> None:
    with SesEmulator(rate=0.5) as emu:
        message_id = emu.add_message()
        clients = [make_client(emu) for _ in range(6)]
        barrier = threading.Barrier(len(clients))

        def call(client: Any) -> None:
            barrier.wait(timeout=5)
            try:
                client.get_message_insights(MessageId=message_id)
            except client.exceptions.TooManyRequestsException:
                return

        threads = [threading.Thread(target=call, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        statuses = sorted(c.status for c in emu.calls)
        assert statuses == [200, 429, 429, 429, 429, 429]


def test_rate_none_is_unlimited_and_set_rate_applies(emu: SesEmulator) -> None:
    message_id = emu.add_message()
    client = make_client(emu)
    for _ in range(15):
        client.get_message_insights(MessageId=message_id)
    assert emu.throttled_count() == 0
    emu.set_rate(2.0)
    assert emu.rate == 2.0
    client.get_message_insights(MessageId=message_id)
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.get_message_insights(MessageId=message_id)
    emu.set_rate(0)
    assert emu.rate is None
    client.get_message_insights(MessageId=message_id)


def test_throttled_call_does_not_consume_a_token() -> None:
    limiter = RateLimiter(rate=1.0)
    assert limiter.try_acquire("a", 10.0)
    assert not limiter.try_acquire("a", 10.5)
    assert not limiter.try_acquire("a", 10.9)
    assert limiter.try_acquire("a", 11.0)
    assert limiter.try_acquire("b", 11.0)
    assert not limiter.try_acquire("a", 11.999)
    with SesEmulator(rate=4.0) as emu:
        message_id = emu.add_message()
        client = make_client(emu)
        client.get_message_insights(MessageId=message_id)
        first = emu.calls[0].monotonic
        for _ in range(3):
            with pytest.raises(client.exceptions.TooManyRequestsException):
                client.get_message_insights(MessageId=message_id)
        time.sleep(max(0.0, first + 0.27 - time.monotonic()))
        client.get_message_insights(MessageId=message_id)
        assert [c.status for c in emu.calls] == [200, 429, 429, 429, 200]


@pytest.mark.parametrize(
    ("kind", "status", "code", "modeled"),
    [
        ("throttle", 429, "TooManyRequestsException", True),
        ("bad_request", 400, "BadRequestException", True),
        ("internal_error", 500, "InternalFailure", False),
        ("unavailable", 503, "ServiceUnavailable", False),
    ],
)
def test_error_faults_as_boto3_sees_them(
    emu: SesEmulator, kind: str, status: int, code: str, modeled: bool
) -> None:
    message_id = emu.add_message()
    client = make_client(emu)
    emu.inject(kind)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.get_message_insights(MessageId=message_id)
    error = raised.value
    assert error.response["Error"]["Code"] == code
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert (type(error) is not botocore.exceptions.ClientError) is modeled
    assert client.get_message_insights(MessageId=message_id)["MessageId"] == message_id
    assert [(c.status, c.error_code, c.fault) for c in emu.calls] == [(status, code, kind), (200, None, None)]


def test_server_errors_are_retried_by_standard_mode(emu: SesEmulator) -> None:
    message_id = emu.add_message()
    emu.inject("internal_error")
    emu.inject("unavailable")
    response = make_client(emu, attempts=3).get_message_insights(MessageId=message_id)
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert [c.status for c in emu.calls] == [500, 503, 200]


def test_drop_fault_closes_the_connection(emu: SesEmulator) -> None:
    message_id = emu.add_message()
    client = make_client(emu)
    client.get_message_insights(MessageId=message_id)
    emu.inject("drop")
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        client.get_message_insights(MessageId=message_id)
    assert client.get_message_insights(MessageId=message_id)["MessageId"] == message_id
    assert [(c.status, c.fault) for c in emu.calls] == [(200, None), (0, "drop"), (200, None)]


def test_malformed_fault_is_a_200_that_is_not_json(emu: SesEmulator) -> None:
    message_id = emu.add_message()
    emu.inject("malformed", 2)
    status, _, body = raw_insights(emu, message_id)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)
    response = make_client(emu).get_message_insights(MessageId=message_id)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "MessageId" not in response
    assert "Insights" not in response
    assert [(c.status, c.fault) for c in emu.calls] == [(200, "malformed")] * 2


def test_slow_fault_times_out_or_answers_late(emu: SesEmulator) -> None:
    message_id = emu.add_message()
    emu.inject("slow", seconds=0.8)
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        make_client(emu, read_timeout=0.3).get_message_insights(MessageId=message_id)
    emu.inject("slow", seconds=0.2)
    started = time.monotonic()
    assert make_client(emu).get_message_insights(MessageId=message_id)["MessageId"] == message_id
    assert time.monotonic() - started >= 0.2
    assert wait_until(lambda: len(emu.calls) == 2)
    assert [(c.status, c.fault) for c in emu.calls] == [(200, "slow"), (200, "slow")]


def test_faults_are_consumed_in_order_and_by_matching_id(emu: SesEmulator) -> None:
    wanted = emu.add_message()
    other = emu.add_message()
    client = make_client(emu)
    emu.inject("bad_request", message_id=wanted)
    emu.inject("throttle")
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.get_message_insights(MessageId=other)
    client.get_message_insights(MessageId=other)
    with pytest.raises(client.exceptions.BadRequestException):
        client.get_message_insights(MessageId=wanted)
    assert emu.state.pending_faults() == []
    with pytest.raises(InvalidRequestError):
        emu.inject("meteor")
    assert set(FAULT_KINDS) == {
        "throttle",
        "internal_error",
        "unavailable",
        "bad_request",
        "slow",
        "drop",
        "malformed",
    }


def test_latency_is_added_after_arrival_is_recorded() -> None:
    with SesEmulator(rate=1.0, latency=(0.2, 0.25)) as emu:
        message_id = emu.add_message()
        client = make_client(emu)
        started = time.monotonic()
        client.get_message_insights(MessageId=message_id)
        finished = time.monotonic()
        arrival = emu.calls[0].monotonic
        assert started <= arrival
        assert finished - arrival >= 0.2


def send(client: Any, *addresses: str, **extra: Any) -> str:
    """Send a simple email to ``addresses`` and return the message id."""
    response = client.send_email(
        FromEmailAddress="sender@example.com",
        Destination={"ToAddresses": list(addresses)},
        Content=SIMPLE_CONTENT,
        **extra,
    )
    return str(response["MessageId"])


def test_send_email_mailbox_simulator_timelines(emu: SesEmulator) -> None:
    client = make_client(emu)
    expected = {
        "success@simulator.amazonses.com": ["SEND", "DELIVERY"],
        "bounce@simulator.amazonses.com": ["SEND", "BOUNCE"],
        "complaint@simulator.amazonses.com": ["SEND", "DELIVERY", "COMPLAINT"],
        "ooto@simulator.amazonses.com": ["SEND", "DELIVERY"],
        "suppressionlist+label@simulator.amazonses.com": ["SEND", "BOUNCE"],
        "dana@outlook.com": ["SEND", "DELIVERY"],
    }
    ids: dict[str, str] = {}
    for address in expected:
        ids[address] = send(client, address)
        assert event_types(client.get_message_insights(MessageId=ids[address])) == ["SEND"], address
    time.sleep(0.5)
    for address, message_id in ids.items():
        response = client.get_message_insights(MessageId=message_id)
        assert event_types(response) == expected[address], address
        insight = response["Insights"][0]
        assert insight["Destination"] == address
        is_simulator = address.endswith("@simulator.amazonses.com")
        assert insight["Isp"] == ("Amazon SES Mailbox Simulator" if is_simulator else "Microsoft")
        assert response["Subject"] == "Hi"
    details = {
        address: [
            e.get("Details") for e in client.get_message_insights(MessageId=mid)["Insights"][0]["Events"]
        ]
        for address, mid in ids.items()
    }
    assert details["bounce@simulator.amazonses.com"][1] == {
        "Bounce": {
            "BounceType": "PERMANENT",
            "BounceSubType": "General",
            "DiagnosticCode": "smtp; 550 5.1.1 user unknown",
        }
    }
    assert details["suppressionlist+label@simulator.amazonses.com"][1]["Bounce"]["BounceSubType"] == (
        "OnAccountSuppressionList"
    )
    assert details["complaint@simulator.amazonses.com"][2] == {
        "Complaint": {"ComplaintFeedbackType": "abuse"}
    }
    assert details["success@simulator.amazonses.com"] == [None, None]
    assert [c.operation for c in emu.calls[:2]] == ["SendEmail", "GetMessageInsights"]


def test_send_email_ids_tags_and_multi_recipient(emu: SesEmulator) -> None:
    client = make_client(emu)
    message_id = send(
        client,
        "success@simulator.amazonses.com",
        "bounce@simulator.amazonses.com",
        ConfigurationSetName="tracking",
        EmailTags=[{"Name": "campaign", "Value": "launch"}],
    )
    prefix, _, rest = message_id.partition("-")
    assert len(prefix) == 16
    assert prefix.startswith("010001")
    assert rest.endswith("-000000")
    time.sleep(0.5)
    response = client.get_message_insights(MessageId=message_id)
    assert [event_types(response, i) for i in range(2)] == [["SEND"], ["SEND"]]
    tags = {tag["Name"]: tag["Value"] for tag in response["EmailTags"]}
    assert tags == {
        "ses:configuration-set": "tracking",
        "ses:from-domain": "example.com",
        "ses:caller-identity": ACCESS_KEY,
        "ses:source-ip": "127.0.0.1",
        "ses:outgoing-ip": tags["ses:outgoing-ip"],
        "campaign": "launch",
    }
    plain = client.get_message_insights(MessageId=send(client, "x@icloud.com"))
    assert plain["EmailTags"] == []
    assert plain["Insights"][0]["Isp"] == "Apple"


def test_send_email_raw_and_template_content(emu: SesEmulator) -> None:
    client = make_client(emu)
    mime = (
        b"From: Team <team@example.com>\r\nTo: Eve <eve@gmail.com>\r\nSubject: Raw subject\r\n"
        b"Content-Type: text/plain\r\n\r\nHello\r\n"
    )
    raw_id = client.send_email(Content={"Raw": {"Data": mime}})["MessageId"]
    raw = client.get_message_insights(MessageId=raw_id)
    assert raw["Subject"] == "Raw subject"
    assert raw["FromEmailAddress"] == "Team <team@example.com>"
    assert raw["Insights"][0]["Destination"] == "eve@gmail.com"
    template_id = client.send_email(
        FromEmailAddress="sender@example.com",
        Destination={"CcAddresses": ["f@hotmail.com"]},
        Content={"Template": {"TemplateName": "welcome", "TemplateData": "{}"}},
    )["MessageId"]
    template = client.get_message_insights(MessageId=template_id)
    assert "Subject" not in template
    assert template["Insights"][0]["Isp"] == "Microsoft"


def test_send_email_bad_requests_name_what_is_missing(emu: SesEmulator) -> None:
    client = make_client(emu)
    with pytest.raises(client.exceptions.BadRequestException, match="FromEmailAddress"):
        client.send_email(Destination={"ToAddresses": ["a@example.com"]}, Content=SIMPLE_CONTENT)
    with pytest.raises(client.exceptions.BadRequestException, match="Destination"):
        client.send_email(FromEmailAddress="me@example.com", Destination={}, Content=SIMPLE_CONTENT)
    status, headers, body = raw_request(emu, "POST", "/v2/email/outbound-emails", {"FromEmailAddress": "x"})
    assert (status, headers["x-amzn-errortype"]) == (400, "BadRequestException")
    assert "Content" in json.loads(body)["message"]
    assert [(c.operation, c.status) for c in emu.calls] == [("SendEmail", 400)] * 3


def test_control_api_over_http(emu: SesEmulator) -> None:
    status, _, body = raw_request(emu, "GET", "/_emulator/health")
    assert status == 200
    assert json.loads(body)["status"] == "ok"
    seeds = [
        {"message_id": "seeded-1", "subject": "Seeded", "tags": {"k": "v"}},
        {"recipients": [{"destination": "bounce@simulator.amazonses.com"}], "visible_after": 0.0},
    ]
    status, _, body = raw_request(emu, "POST", "/_emulator/messages", seeds)
    ids = json.loads(body)["message_ids"]
    assert status == 200
    assert ids[0] == "seeded-1"
    client = make_client(emu)
    assert client.get_message_insights(MessageId="seeded-1")["Subject"] == "Seeded"
    assert raw_request(emu, "POST", "/_emulator/faults", {"kind": "unavailable", "count": 1})[0] == 200
    with pytest.raises(botocore.exceptions.ClientError, match="ServiceUnavailable"):
        client.get_message_insights(MessageId=ids[1])
    status, _, body = raw_request(emu, "GET", "/_emulator/calls")
    calls = json.loads(body)
    assert [(c["message_id"], c["status"], c["fault"]) for c in calls] == [
        ("seeded-1", 200, None),
        (ids[1], 503, "unavailable"),
    ]
    assert CallRecord(**calls[0]) == emu.calls[0]
    assert json.loads(raw_request(emu, "PUT", "/_emulator/rate", {"rate": 5.0})[2]) == {"rate": 5.0}
    assert emu.rate == 5.0
    assert json.loads(raw_request(emu, "PUT", "/_emulator/rate", {"rate": None})[2]) == {"rate": None}
    assert raw_request(emu, "DELETE", "/_emulator/calls")[0] == 200
    assert emu.calls == []
    assert raw_request(emu, "POST", "/_emulator/reset")[0] == 200
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_message_insights(MessageId="seeded-1")
    status, headers, body = raw_request(emu, "POST", "/_emulator/messages", [{"recipients": "nope"}])
    assert (status, headers["x-amzn-errortype"]) == (400, "BadRequestException")
    assert "recipients" in json.loads(body)["message"]
    assert raw_request(emu, "POST", "/_emulator/faults", {"kind": "meteor"})[0] == 400
    status, headers, _ = raw_request(emu, "GET", "/_emulator/nothing")
    assert (status, headers["x-amzn-errortype"]) == (404, "UnknownOperationException")


def test_keep_alive_connection_serves_several_requests(emu: SesEmulator) -> None:
    message_id = emu.add_message()
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        for path in (f"/v2/email/insights/{message_id}/", "/v2/email/insights/missing/", "/nowhere"):
            connection.request("GET", path, headers={"Authorization": FAKE_AUTH})
            response = connection.getresponse()
            body = response.read()
            assert int(response.headers["Content-Length"]) == len(body)
            assert response.headers["x-amzn-RequestId"]
    finally:
        connection.close()
    assert [c.status for c in emu.calls] == [200, 404]


def test_anonymous_account_and_stop_is_final() -> None:
    emu = SesEmulator(rate=1.0).start()
    message_id = emu.add_message()
    raw_insights(emu, message_id)
    status, _, _ = raw_request(emu, "GET", f"/v2/email/insights/{message_id}/", auth=False)
    assert status == 200
    assert [c.account for c in emu.calls] == [ACCESS_KEY, "anonymous"]
    client = make_client(emu)
    emu.set_rate(None)
    client.get_message_insights(MessageId=message_id)
    emu.stop()
    emu.stop()
    assert not emu.running
    with pytest.raises(
        (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError)
    ):
        client.get_message_insights(MessageId=message_id)


def test_state_rejects_bad_scripts() -> None:
    state = EmulatorState(clock=lambda: 1000.0)
    with pytest.raises(InvalidRequestError, match="type"):
        state.add_message(recipients=[{"destination": "a@b.c", "events": [{"type": "OPENED"}]}])
    with pytest.raises(InvalidRequestError, match="BounceType"):
        state.add_message(
            recipients=[
                {"destination": "a@b.c", "events": [{"type": "BOUNCE", "bounce": {"BounceType": "Hard"}}]}
            ]
        )
    with pytest.raises(InvalidRequestError, match="unknown key"):
        state.add_message(recipients=[{"destination": "a@b.c", "event": []}])
    with pytest.raises(InvalidRequestError, match="both"):
        state.add_message(
            recipients=[{"destination": "a@b.c", "events": [{"type": "SEND", "at": 1, "after": 1}]}]
        )
    with pytest.raises(InvalidRequestError):
        state.add_messages([{"subject": "ok"}, {"subjects": "typo"}])
    assert state.message_count() == 0
    message_id = state.add_message(
        recipients=[{"destination": "a@gmail.com"}, {"destination": "bounce@simulator.amazonses.com"}]
    )
    body = state.message_insights(message_id)
    assert body is not None
    assert [event_types(body, i) for i in range(2)] == [["SEND"], ["SEND"]]


@pytest.mark.parametrize(
    ("address", "isp"),
    [
        ("a@gmail.com", "Gmail"),
        ("a@GoogleMail.com", "Gmail"),
        ("a@yahoo.fr", "Yahoo"),
        ("a@live.com", "Microsoft"),
        ("a@me.com", "Apple"),
        ("Sim <success@simulator.amazonses.com>", "Amazon SES Mailbox Simulator"),
        ("a@example.com", "Other"),
    ],
)
def test_isp_from_domain(address: str, isp: str) -> None:
    assert isp_for(address) == isp


def test_every_success_body_matches_the_service_model(emu: SesEmulator) -> None:
    client = make_client(emu)
    scripted = emu.add_message(
        recipients=[
            {
                "destination": "a@gmail.com",
                "events": [
                    {"type": "SEND"},
                    {"type": "DELIVERY_DELAY", "after": -1},
                    {"type": "BOUNCE", "bounce": {"BounceType": "UNDETERMINED", "DiagnosticCode": "x"}},
                    {
                        "type": "COMPLAINT",
                        "complaint": {"ComplaintSubType": "s", "ComplaintFeedbackType": "abuse"},
                    },
                ],
            },
            {"destination": "b@example.com", "events": []},
        ],
        tags={"team": "growth"},
    )
    no_subject = emu.add_message(subject=None, recipients=[])
    default = emu.add_message()
    raw_send = raw_request(
        emu,
        "POST",
        "/v2/email/outbound-emails",
        {
            "FromEmailAddress": "me@example.com",
            "Destination": {"ToAddresses": ["complaint@simulator.amazonses.com"]},
            "Content": SIMPLE_CONTENT,
            "ConfigurationSetName": "cs",
        },
    )
    assert raw_send[0] == 200
    assert validate_output("SendEmail", json.loads(raw_send[2])) == []
    generated = json.loads(raw_send[2])["MessageId"]
    multi = send(client, "a@gmail.com", "b@gmail.com")
    time.sleep(0.45)
    for message_id in (scripted, no_subject, default, generated, multi):
        status, _, body = raw_insights(emu, message_id)
        assert status == 200
        decoded = json.loads(body)
        assert validate_output("GetMessageInsights", decoded) == [], message_id
    assert len(json.loads(raw_insights(emu, generated)[2])["Insights"][0]["Events"]) == 3


def test_service_model_validator_can_fail() -> None:
    body = {
        "MessageId": "m",
        "Unexpected": 1,
        "EmailTags": [{"Name": "only-name"}],
        "Insights": [
            {
                "Destination": "a@b.c",
                "Events": [
                    {"Timestamp": "2026-01-01T00:00:00Z", "Type": "DELIVERED"},
                    {"Timestamp": 1.0, "Type": "BOUNCE", "Details": {"Bounce": {"BounceType": "HARD"}}},
                ],
            }
        ],
    }
    problems = validate_output("GetMessageInsights", body)
    joined = "\n".join(problems)
    assert "unknown member 'Unexpected'" in joined
    assert "required member 'Value' missing" in joined
    assert "Events[0].Timestamp: expected epoch seconds" in joined
    assert "Events[0].Type: 'DELIVERED' is not one of" in joined
    assert "BounceType: 'HARD' is not one of" in joined
    assert validate_output("GetMessageInsights", {"Insights": {"not": "a list"}}) != []
    assert validate_output("GetMessageInsights", {"Subject": 5}) != []


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """Read one line of the child's stdout, waiting at most ``timeout`` seconds."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return process.stdout.readline()


def test_command_line_runs_until_sigterm(tmp_path: Path) -> None:
    seed = tmp_path / "messages.json"
    seed.write_text(json.dumps([{"message_id": "from-seed-file", "subject": "Seeded"}]), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_sesinsights.emulator",
            "--port",
            "0",
            "--rate",
            "0",
            "--seed-file",
            str(seed),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = read_line(process, timeout=20)
        assert line.startswith("SES emulator listening on http://127.0.0.1:"), line
        url = line.split()[4]
        client = boto3.client(
            "sesv2",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key="emulator-secret",
            config=Config(retries={"total_max_attempts": 1}),
        )
        assert client.get_message_insights(MessageId="from-seed-file")["Subject"] == "Seeded"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_command_line_rejects_a_bad_seed_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = tmp_path / "bad.json"
    seed.write_text(json.dumps([{"recipients": [{"destination": "a@b.c", "events": [{"type": "NOPE"}]}]}]))
    assert cli_main(["--port", "0", "--seed-file", str(seed)]) == 2
    assert "NOPE" in capsys.readouterr().err
