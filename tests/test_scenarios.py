"""The generated "realistic day" of traffic for the emulator and its sender's manifest."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import date, datetime, timezone

import pytest

from airflow_provider_sesinsights.emulator import EmulatorState
from airflow_provider_sesinsights.emulator.scenarios import (
    DEFAULT_CAMPAIGNS,
    DEFAULT_ISPS,
    MANIFEST_COLUMNS,
    realistic_day,
)
from airflow_provider_sesinsights.message_ids import validate_message_ids

DAY = date(2025, 6, 2)
MIDNIGHT = datetime(2025, 6, 2, tzinfo=timezone.utc).timestamp()


@pytest.fixture(scope="module")
def day_messages() -> list[dict]:
    return realistic_day(DAY).messages


def test_same_seed_same_day_other_seed_other_day() -> None:
    assert realistic_day(DAY, messages=50, seed=3) == realistic_day(DAY, messages=50, seed=3)
    assert (
        realistic_day(DAY, messages=50, seed=3).messages != realistic_day(DAY, messages=50, seed=4).messages
    )
    with pytest.raises(ValueError, match="at least 1"):
        realistic_day(DAY, messages=0)


def test_every_message_is_accepted_by_the_emulator(day_messages: list[dict]) -> None:
    state = EmulatorState(rate=None)
    ids = state.add_messages(day_messages)
    assert ids == [message["message_id"] for message in day_messages]
    assert state.message_count() == 400
    assert validate_message_ids(ids) == ids and len(set(ids)) == len(ids)
    assert all(len(message_id) == 60 and message_id.endswith("-000000") for message_id in ids)
    answer = state.message_insights(ids[0])
    assert answer is not None and answer["Insights"][0]["Events"][0]["Type"] == "SEND"


def test_sends_happen_that_day_in_order_within_their_campaign_window(day_messages: list[dict]) -> None:
    windows = {campaign.name: campaign.window_hours for campaign in DEFAULT_CAMPAIGNS}
    previous = MIDNIGHT
    for message in day_messages:
        for recipient in message["recipients"]:
            events = recipient["events"]
            assert events[0]["type"] == "SEND"
            assert [e["at"] for e in events] == sorted(e["at"] for e in events)
        sent = message["recipients"][0]["events"][0]["at"]
        start, end = windows[message["tags"]["campaign"]]
        assert MIDNIGHT + start * 3600 <= sent <= MIDNIGHT + end * 3600
        assert sent >= previous
        previous = sent
        assert message["tags"]["ses:configuration-set"] in {"transactional", "marketing"}


def test_the_day_mixes_isps_campaigns_and_every_kind_of_outcome(day_messages: list[dict]) -> None:
    isps = Counter(r["isp"] for m in day_messages for r in m["recipients"])
    assert set(isps) == {isp.name for isp in DEFAULT_ISPS}
    assert isps.most_common(1)[0][0] == "Gmail"
    assert set(Counter(m["tags"]["campaign"] for m in day_messages)) == {c.name for c in DEFAULT_CAMPAIGNS}
    singles = [m["recipients"][0]["events"] for m in day_messages if len(m["recipients"]) == 1]
    multis = [m for m in day_messages if len(m["recipients"]) > 1]
    assert multis and all(
        [e["type"] for e in r["events"]] == ["SEND"] for m in multis for r in m["recipients"]
    ), "SES tracks multi-recipient messages only up to SEND"
    kinds = Counter(e["type"] for events in singles for e in events)
    for kind in ("DELIVERY", "BOUNCE", "COMPLAINT", "DELIVERY_DELAY", "OPEN", "CLICK"):
        assert kinds[kind] > 0, kind
    assert 0.9 < kinds["DELIVERY"] / len(singles) < 0.995
    assert kinds["COMPLAINT"] < kinds["BOUNCE"] < kinds["OPEN"]
    bounce_types = Counter(e["bounce"]["BounceType"] for events in singles for e in events if "bounce" in e)
    assert set(bounce_types) == {"PERMANENT", "TRANSIENT", "UNDETERMINED"}


def test_transient_bounces_come_after_delays_and_some_diagnostics_quote_the_recipient(
    day_messages: list[dict],
) -> None:
    quoting = 0
    for message in day_messages:
        for recipient in message["recipients"]:
            events = recipient["events"]
            for event in events:
                bounce = event.get("bounce")
                if bounce and bounce["BounceType"] == "TRANSIENT":
                    assert "DELIVERY_DELAY" in [e["type"] for e in events]
                    assert event["at"] - events[0]["at"] >= 4 * 3600
                if bounce and recipient["destination"] in bounce.get("DiagnosticCode", ""):
                    quoting += 1
    assert quoting > 0, "the PII option of the report needs diagnostic codes that name the recipient"


def test_manifest_csv_and_jsonl_list_every_message_with_its_send_time() -> None:
    scenario = realistic_day(DAY, messages=60, seed=11)
    from_csv = list(csv.DictReader(io.StringIO(scenario.manifest_csv())))
    from_jsonl = [json.loads(line) for line in scenario.manifest_jsonl().splitlines()]
    assert from_csv == from_jsonl == scenario.manifest_rows()
    assert tuple(from_csv[0]) == MANIFEST_COLUMNS
    assert [row["message_id"] for row in from_csv] == scenario.message_ids
    first = scenario.messages[0]
    sent = datetime.fromisoformat(from_csv[0]["sent_at"]).timestamp()
    assert sent == pytest.approx(first["recipients"][0]["events"][0]["at"], abs=1.0)
    assert from_csv[0]["campaign"] == first["tags"]["campaign"]
    assert json.loads(scenario.seed_json()) == scenario.messages
