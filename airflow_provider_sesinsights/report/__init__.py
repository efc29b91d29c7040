"""Deliverability reports from raw insights: an events table, a summary and an HTML page.

:func:`build_report` is the entry point; the modules behind it can be used on their own:
:mod:`.source` (reading JSON Lines), :mod:`.events_table`, :mod:`.summary`, :mod:`.html`,
:mod:`.charts` (matplotlib, optional extra ``charts``) and :mod:`.pii` (hashing recipients).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_sesinsights.report.events_table import event_rows, write_events_csv
from airflow_provider_sesinsights.report.html import render_html
from airflow_provider_sesinsights.report.pii import RecipientHasher
from airflow_provider_sesinsights.report.source import InsightsSource, load_insights
from airflow_provider_sesinsights.report.summary import Summary, summarize, summary_text, write_summary_csv

EVENTS_CSV = "events.csv"
SUMMARY_CSV = "summary.csv"
SUMMARY_JSON = "summary.json"
REPORT_HTML = "report.html"

__all__ = ["ReportFiles", "Summary", "build_report", "summary_text"]


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`build_report` wrote, and the summary it computed.

    :param event_rows: rows in the events table.
    """

    out_dir: Path
    events_csv: Path
    summary_csv: Path
    summary_json: Path
    html: Path
    summary: Summary
    event_rows: int

    @property
    def paths(self) -> list[Path]:
        """Every file written, for uploading."""
        return [self.events_csv, self.summary_csv, self.summary_json, self.html]


def build_report(
    source: InsightsSource,
    out_dir: str | Path,
    *,
    group_by_tags: Sequence[str] = ("campaign",),
    hash_recipients: bool = False,
    salt: str | None = None,
    title: str = "SES deliverability report",
) -> ReportFiles:
    """Build the events table (CSV), the summary (JSON and CSV) and the HTML page in ``out_dir``.

    :param source: JSON Lines of insights: a file or folder (``.jsonl``, ``.jsonl.gz``), or the
        lines or parsed answers themselves.
    :param group_by_tags: tags (for example ``campaign``) to break the summary down by; each also
        gets a column in the events table.
    :param hash_recipients: replace recipient addresses by keyed pseudonyms in every output.
    :param salt: the secret key of those pseudonyms; required with ``hash_recipients``.
    :param title: heading of the HTML page.
    """
    hasher = RecipientHasher(salt or "") if hash_recipients else None
    loaded = load_insights(source)
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    tags = tuple(group_by_tags)
    rows = write_events_csv(
        event_rows(loaded.records, tag_columns=tags, hasher=hasher), directory / EVENTS_CSV, tag_columns=tags
    )
    summary = summarize(loaded.records, group_by_tags=tags, without_insights=loaded.without_insights)
    write_summary_csv(summary, directory / SUMMARY_CSV)
    document = {**summary.as_dict(), "recipients_hashed": hash_recipients, "event_rows": rows}
    (directory / SUMMARY_JSON).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (directory / REPORT_HTML).write_text(
        render_html(summary, title=title, recipients_hashed=hash_recipients), encoding="utf-8"
    )
    return ReportFiles(
        out_dir=directory,
        events_csv=directory / EVENTS_CSV,
        summary_csv=directory / SUMMARY_CSV,
        summary_json=directory / SUMMARY_JSON,
        html=directory / REPORT_HTML,
        summary=summary,
        event_rows=rows,
    )
