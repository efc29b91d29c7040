"""The deliverability report: events table, summary, HTML page (rendered in headless Chromium)."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sesinsights.emulator.scenarios import ScenarioDay, realistic_day
from airflow_provider_sesinsights.insights import json_safe
from airflow_provider_sesinsights.report import ReportFiles, build_report, summary_text
from airflow_provider_sesinsights.report.events_table import EVENT_COLUMNS, event_rows
from airflow_provider_sesinsights.report.html import render_html
from airflow_provider_sesinsights.report.pii import PSEUDONYM_PREFIX, RecipientHasher
from airflow_provider_sesinsights.report.source import load_insights
from airflow_provider_sesinsights.report.summary import NO_TAG_VALUE, percentile, summarize

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc)
PERMANENT = {"Bounce": {"BounceType": "PERMANENT", "BounceSubType": "General", "DiagnosticCode": ""}}
TRANSIENT = {"Bounce": {"BounceType": "TRANSIENT", "BounceSubType": "MailboxFull"}}
UNDETERMINED = {"Bounce": {"BounceType": "UNDETERMINED", "BounceSubType": "Undetermined"}}
COMPLAINT = {"Complaint": {"ComplaintFeedbackType": "abuse"}}

Timeline = list[tuple[str, float, dict[str, Any] | None]]


def message(
    message_id: str, *recipients: tuple[str, str, Timeline], campaign: str | None = "spring"
) -> dict[str, Any]:
    """A JSON-safe GetMessageInsights answer, as the operator stores it."""
    raw = {
        "ResponseMetadata": {"HTTPStatusCode": 200},
        "MessageId": message_id,
        "FromEmailAddress": "news@example.com",
        "EmailTags": [{"Name": "campaign", "Value": campaign}] if campaign else [],
        "Insights": [
            {
                "Destination": destination,
                "Isp": isp,
                "Events": [
                    {"Timestamp": T0 + timedelta(seconds=at), "Type": kind, **({"Details": d} if d else {})}
                    for kind, at, d in timeline
                ],
            }
            for destination, isp, timeline in recipients
        ],
    }
    return json_safe(raw)


def small_day() -> list[dict[str, Any]]:
    """Seven messages covering each outcome the summary counts."""
    bounce_with_address = {
        "Bounce": {
            "BounceType": "PERMANENT",
            "BounceSubType": "General",
            "DiagnosticCode": 'smtp; 550 5.1.1 <Bob@Yahoo.com>: user unknown, "quoted"',
        }
    }
    return [
        message(
            "m-1",
            ("ann@gmail.com", "Gmail", [("SEND", 0, None), ("DELIVERY", 2, None), ("OPEN", 60, None)]),
        ),
        message(
            "m-2",
            (
                "cat@gmail.com",
                "Gmail",
                [("SEND", 0, None), ("DELIVERY", 4, None), ("OPEN", 30, None), ("CLICK", 40, None)],
            ),
        ),
        message("m-3", ("bob@yahoo.com", "Yahoo", [("SEND", 0, None), ("BOUNCE", 1, bounce_with_address)])),
        message(
            "m-4",
            (
                "dan@yahoo.com",
                "Yahoo",
                [("SEND", 0, None), ("DELIVERY_DELAY", 60, None), ("BOUNCE", 7200, TRANSIENT)],
            ),
            campaign="digest",
        ),
        message(
            "m-5",
            (
                "eve@outlook.com",
                "Microsoft",
                [("SEND", 0, None), ("DELIVERY", 10, None), ("COMPLAINT", 900, COMPLAINT)],
            ),
            campaign="digest",
        ),
        message(
            "m-6",
            ("fay@gmail.com", "Gmail", [("SEND", 0, None)]),
            ("gus@outlook.com", "Microsoft", [("SEND", 0, None)]),
            campaign=None,
        ),
        message("m-7", ("hal@example.org", "Other", [("SEND", 0, None), ("BOUNCE", 3, UNDETERMINED)])),
    ]


SMALL_DAY_ADDRESSES = ("ann@gmail.com", "cat@gmail.com", "bob@yahoo.com", "dan@yahoo.com")


def test_percentile_interpolates_between_ranks_like_statistics_quantiles() -> None:
    values = [3.0, 1.0, 10.0, 4.0, 2.0, 8.0, 5.5]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    for fraction, index in ((0.5, 49), (0.9, 89), (0.99, 98)):
        assert percentile(values, fraction) == pytest.approx(cuts[index])
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None
    assert percentile(values, 0.0) == 1.0 and percentile(values, 1.0) == 10.0
    with pytest.raises(ValueError, match="fraction"):
        percentile(values, 1.5)


def test_summary_counts_each_outcome_once() -> None:
    summary = summarize(small_day(), group_by_tags=("campaign",), without_insights=["m-404"])
    overall = summary.overall
    assert (overall.messages, overall.sends, overall.untracked, overall.tracked) == (7, 8, 2, 6)
    assert overall.delivered == 3
    assert (overall.bounced, overall.bounced_permanent, overall.bounced_transient) == (3, 1, 1)
    assert overall.bounced_undetermined == 1
    assert (overall.complained, overall.opened, overall.clicked, overall.delayed) == (1, 2, 1, 1)
    assert (overall.failed, overall.pending) == (0, 0)
    assert overall.delivery_rate == pytest.approx(3 / 6)
    assert overall.bounce_rate == pytest.approx(3 / 6)
    assert overall.complaint_rate == pytest.approx(1 / 6)
    assert overall.open_rate == pytest.approx(2 / 3)
    assert overall.click_rate == pytest.approx(1 / 3)
    assert overall.delivery_p50_s == pytest.approx(4.0)
    assert overall.delivery_p90_s == pytest.approx(percentile([2.0, 4.0, 10.0], 0.9))
    assert sorted(summary.delivery_seconds) == [2.0, 4.0, 10.0]
    assert summary.without_insights == ["m-404"]
    assert summary.first_send == summary.last_send == "2025-06-02T09:00:00.000+00:00"
    assert sum(count for _, _, count in summary.bounce_reasons) == overall.bounced


def test_summary_groups_by_isp_and_tag() -> None:
    summary = summarize(small_day(), group_by_tags=("campaign", "team"))
    by_isp = {group.name: group for group in summary.by_isp}
    assert summary.by_isp[0].name == "Gmail"
    assert (by_isp["Gmail"].sends, by_isp["Gmail"].delivered, by_isp["Gmail"].untracked) == (3, 2, 1)
    assert by_isp["Yahoo"].bounce_rate == 1.0
    assert by_isp["Microsoft"].complaint_rate == 1.0
    assert by_isp["Other"].bounced_undetermined == 1
    assert sum(group.sends for group in summary.by_isp) == summary.overall.sends
    campaigns = {group.name: group for group in summary.by_tag["campaign"]}
    assert set(campaigns) == {"spring", "digest", NO_TAG_VALUE}
    assert (campaigns["spring"].messages, campaigns["digest"].messages) == (4, 2)
    assert campaigns[NO_TAG_VALUE].untracked == 2 and campaigns[NO_TAG_VALUE].delivery_rate is None
    assert [group.name for group in summary.by_tag["team"]] == [NO_TAG_VALUE]


def test_summary_text_names_the_totals_and_each_isp() -> None:
    text = summary_text(summarize(small_day(), without_insights=["m-404"]))
    assert "Messages 7, sends 8" in text
    assert "Delivered 3 (50.00%)" in text and "complained 1 (16.67%)" in text
    for isp in ("Gmail", "Yahoo", "Microsoft", "Other"):
        assert isp in text
    assert "No insights for 1 message ID(s)" in text


def test_events_table_has_one_row_per_message_recipient_and_event() -> None:
    records = small_day()
    rows = list(event_rows(records, tag_columns=("campaign",)))
    assert len(rows) == sum(len(r["Events"]) for m in records for r in m["Insights"])
    assert all(list(row)[: len(EVENT_COLUMNS)] == list(EVENT_COLUMNS) for row in rows)
    bounce = next(row for row in rows if row["message_id"] == "m-3" and row["event_type"] == "BOUNCE")
    assert bounce["recipient"] == "bob@yahoo.com" and bounce["isp"] == "Yahoo"
    assert (bounce["bounce_type"], bounce["bounce_subtype"]) == ("PERMANENT", "General")
    assert bounce["diagnostic_code"].startswith("smtp; 550 5.1.1 <Bob@Yahoo.com>")
    assert bounce["timestamp"] == "2025-06-02T09:00:01.000+00:00"
    assert json.loads(bounce["tags"]) == {"campaign": "spring"} and bounce["tag_campaign"] == "spring"
    complaint = next(row for row in rows if row["event_type"] == "COMPLAINT")
    assert complaint["complaint_feedback_type"] == "abuse" and complaint["bounce_type"] == ""
    untagged = next(row for row in rows if row["message_id"] == "m-6")
    assert untagged["tag_campaign"] == "" and json.loads(untagged["tags"]) == {}


@pytest.fixture
def small_report(tmp_path: Path) -> ReportFiles:
    source = tmp_path / "insights.jsonl"
    source.write_text("".join(json.dumps(record) + "\n" for record in small_day()), encoding="utf-8")
    return build_report(source, tmp_path / "report", title="Report for 2025-06-02")


def test_build_report_writes_csvs_json_and_html_that_agree(small_report: ReportFiles) -> None:
    assert [path.name for path in small_report.paths] == [
        "events.csv",
        "summary.csv",
        "summary.json",
        "report.html",
    ]
    with small_report.events_csv.open(encoding="utf-8", newline="") as stream:
        table = list(csv.DictReader(stream))
    assert len(table) == small_report.event_rows == 19
    assert table == list(event_rows(small_day(), tag_columns=("campaign",)))
    with small_report.summary_csv.open(encoding="utf-8", newline="") as stream:
        summary_rows = list(csv.DictReader(stream))
    assert [(row["dimension"], row["group"]) for row in summary_rows][:2] == [
        ("overall", "all"),
        ("isp", "Gmail"),
    ]
    assert int(summary_rows[0]["delivered"]) == small_report.summary.overall.delivered
    assert float(summary_rows[0]["bounce_rate"]) == pytest.approx(0.5)
    document = json.loads(small_report.summary_json.read_text(encoding="utf-8"))
    assert document["overall"]["sends"] == 8 and document["recipients_hashed"] is False
    assert document["overall"]["complaint_rate"] == pytest.approx(1 / 6)
    assert {group["name"] for group in document["by_tag"]["campaign"]} == {"spring", "digest", NO_TAG_VALUE}
    page = small_report.html.read_text(encoding="utf-8")
    assert "<title>Report for 2025-06-02</title>" in page
    assert 'id="by-isp"' in page and 'id="by-tag-campaign"' in page and 'id="bounce-reasons"' in page


def test_hashed_recipients_appear_in_no_output(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="salt"):
        build_report(small_day(), tmp_path / "nosalt", hash_recipients=True)
    files = build_report(small_day(), tmp_path / "hashed", hash_recipients=True, salt="s3cret")
    every_output = "".join(path.read_text(encoding="utf-8") for path in files.paths).lower()
    for address in (*SMALL_DAY_ADDRESSES, "eve@outlook.com", "fay@gmail.com", "hal@example.org"):
        assert address not in every_output
    hasher = RecipientHasher("s3cret")
    with files.events_csv.open(encoding="utf-8", newline="") as stream:
        table = list(csv.DictReader(stream))
    assert {row["recipient"][: len(PSEUDONYM_PREFIX)] for row in table} == {PSEUDONYM_PREFIX}
    bounce = next(row for row in table if row["message_id"] == "m-3" and row["event_type"] == "BOUNCE")
    assert bounce["recipient"] == hasher.pseudonym("bob@yahoo.com")
    assert (
        bounce["diagnostic_code"]
        == f'smtp; 550 5.1.1 <{hasher.pseudonym("bob@yahoo.com")}>: user unknown, "quoted"'
    )
    assert json.loads(files.summary_json.read_text(encoding="utf-8"))["recipients_hashed"] is True
    assert "pseudonymised" in files.html.read_text(encoding="utf-8")
    assert files.summary.overall == summarize(small_day()).overall


def test_pseudonyms_are_stable_per_salt_and_ignore_case() -> None:
    first, second = RecipientHasher("a"), RecipientHasher("b")
    assert first.pseudonym("Ann@Gmail.com ") == first.pseudonym("ann@gmail.com")
    assert first.pseudonym("ann@gmail.com") != second.pseudonym("ann@gmail.com")
    assert first.pseudonym("ann@gmail.com") != first.pseudonym("ann@gmail.co")
    assert first.scrub("no address here; 550 5.1.1") == "no address here; 550 5.1.1"
    assert (
        first.scrub("to a.b+c@mail.example.org failed")
        == f"to {first.pseudonym('a.b+c@mail.example.org')} failed"
    )


def test_load_insights_reads_files_folders_gzip_lines_and_dicts(tmp_path: Path) -> None:
    records = small_day()
    lines = [json.dumps(record) + "\n" for record in records]
    part = tmp_path / "day" / "part-0.jsonl"
    part.parent.mkdir()
    part.write_text("".join(lines[:3]) + "\n", encoding="utf-8")
    with gzip.open(tmp_path / "day" / "part-1.jsonl.gz", "wt", encoding="utf-8") as stream:
        stream.write("".join(lines[3:]))
    (tmp_path / "day" / "_manifest.json").write_text("not insights", encoding="utf-8")
    from_folder = load_insights(tmp_path / "day")
    assert [r["MessageId"] for r in from_folder.records] == [r["MessageId"] for r in records]
    assert load_insights(str(part)).records == records[:3]
    assert load_insights(line.encode() for line in lines).records == records
    raw = {
        "MessageId": "m-9",
        "Insights": [{"Destination": "x@y.org", "Events": [{"Timestamp": T0, "Type": "SEND"}]}],
    }
    loaded = load_insights([raw])
    assert loaded.records[0]["Insights"][0]["Events"][0]["Timestamp"] == "2025-06-02T09:00:00.000+00:00"


def test_load_insights_keeps_the_last_answer_per_message_and_lists_ids_without_insights() -> None:
    records = small_day()
    newer = message("m-1", ("ann@gmail.com", "Gmail", [("SEND", 0, None), ("DELIVERY", 2, None)]))
    loaded = load_insights([*records, {"MessageId": "m-404", "Error": "NotFound"}, newer])
    assert len(loaded.records) == len(records)
    assert loaded.records[-1] == newer
    assert loaded.without_insights == ["m-404"]
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        load_insights(['{"MessageId": "a", "Insights": []}', "{oops"])
    with pytest.raises(ValueError, match="line 1 is not an object with a MessageId"):
        load_insights(["[1, 2]"])


def test_page_without_matplotlib_keeps_the_tables_and_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    page = render_html(summarize(small_day()))
    assert "<svg" not in page
    assert 'id="charts-missing"' in page and "airflow-provider-sesinsights[charts]" in page
    assert 'id="by-isp"' in page and 'id="bounce-reasons"' in page


def test_page_with_matplotlib_inlines_two_svg_charts_with_unique_ids() -> None:
    pytest.importorskip("matplotlib", reason="charts are the optional extra 'charts'")
    page = render_html(summarize(small_day()))
    assert page.count("<svg") == 2
    assert 'id="chart-isp-rates"' in page and 'id="chart-delivery-time"' in page
    ids = DomInventory.of(page).ids
    assert len(ids) == len(set(ids)), "element IDs repeat between charts"


class DomInventory(HTMLParser):
    """Collects what the rendering test looks for in a page: tags, IDs, text and references."""

    REFERENCE_ATTRIBUTES = frozenset({"src", "href", "xlink:href", "srcset", "action", "poster", "data"})

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.references: list[str] = []
        self.text: list[str] = []
        self._open: list[str] = []

    @classmethod
    def of(cls, page: str) -> DomInventory:
        inventory = cls()
        inventory.feed(page)
        return inventory

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._open.append(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name in self.REFERENCE_ATTRIBUTES and value:
                self.references.append(value)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._open and self._open[-1] == "style":
            self.references.extend(part for part in data.split("url(")[1:])


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("no 'chromium' binary on PATH (Debian package 'chromium'; .ci/run installs it)")
    return found


def run_chromium(page: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                *flags,
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )


@pytest.fixture(scope="module")
def scenario_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ScenarioDay, ReportFiles]]:
    """A report over a generated day, its insights fetched from the emulator through boto3."""
    import boto3

    from airflow_provider_sesinsights.emulator import SesEmulator

    day = realistic_day(date(2025, 6, 2), messages=150, seed=7)
    with SesEmulator(rate=None) as emulator:
        emulator.add_messages(day.messages)
        client = boto3.client("sesv2", endpoint_url=emulator.endpoint_url, region_name="us-east-1")
        lines = [json.dumps(json_safe(client.get_message_insights(MessageId=m))) for m in day.message_ids]
    folder = tmp_path_factory.mktemp("scenario")
    yield day, build_report(lines, folder, group_by_tags=("campaign", "ses:configuration-set"))


def test_report_of_a_generated_day_matches_the_scenario(
    scenario_report: tuple[ScenarioDay, ReportFiles],
) -> None:
    day, files = scenario_report
    single = [m["recipients"][0]["events"] for m in day.messages if len(m["recipients"]) == 1]
    types = [{event["type"] for event in events} for events in single]
    bounce_types = [
        next(event["bounce"]["BounceType"] for event in events if event["type"] == "BOUNCE")
        for events in single
        if any(event["type"] == "BOUNCE" for event in events)
    ]
    overall = files.summary.overall
    assert overall.messages == len(day.messages)
    assert overall.sends == sum(len(m["recipients"]) for m in day.messages)
    assert overall.untracked == overall.sends - len(single)
    assert overall.delivered == sum("DELIVERY" in seen for seen in types)
    assert overall.complained == sum("COMPLAINT" in seen for seen in types)
    assert overall.opened == sum("OPEN" in seen for seen in types)
    assert overall.clicked == sum("CLICK" in seen for seen in types)
    assert overall.delayed == sum("DELIVERY_DELAY" in seen for seen in types)
    assert overall.failed == sum("REJECT" in seen for seen in types)
    assert overall.bounced_permanent == bounce_types.count("PERMANENT")
    assert overall.bounced_transient == bounce_types.count("TRANSIENT")
    assert overall.bounced_undetermined == bounce_types.count("UNDETERMINED")
    assert files.event_rows == sum(len(r["events"]) for m in day.messages for r in m["recipients"])
    assert {group.name for group in files.summary.by_isp} == {"Gmail", "Microsoft", "Yahoo", "Apple", "Other"}
    sets = {group.name for group in files.summary.by_tag["ses:configuration-set"]}
    assert sets == {"transactional", "marketing"}


def test_report_page_renders_offline_in_headless_chromium(
    scenario_report: tuple[ScenarioDay, ReportFiles], tmp_path: Path
) -> None:
    _, files = scenario_report
    dom = DomInventory.of(run_chromium(files.html, "--dump-dom").stdout)
    assert {"by-isp", "by-tag-campaign", "by-tag-ses:configuration-set", "bounce-reasons", "kpis"} <= set(
        dom.ids
    )
    text = " ".join(dom.text)
    for isp in ("Gmail", "Microsoft", "Yahoo", "Apple"):
        assert isp in text
    if "charts-missing" in dom.ids:
        assert "airflow-provider-sesinsights[charts]" in text
    else:
        assert dom.tags.count("svg") == 2 and {"chart-isp-rates", "chart-delivery-time"} <= set(dom.ids)
        assert "Delivery time" in text and "Bounced (% of tracked sends)" in text
        assert any(ref.startswith("#") for ref in dom.references), "no chart-internal references found"
    assert not {"script", "link", "iframe", "object", "embed", "img"} & set(dom.tags)
    references = [ref.strip().strip("'\"") for ref in dom.references]
    outside = [ref for ref in references if not ref.startswith("#")]
    assert outside == [], f"the page refers to resources outside itself: {outside}"

    shot = tmp_path / "report.png"
    run_chromium(files.html, "--window-size=1280,2000", f"--screenshot={shot}")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 2000)
    assert len(png) > 40_000, "the screenshot is nearly empty"
