"""The self-contained HTML page of a deliverability report.

Everything is inside the one file: styles inline, charts as inline SVG, no script, no font and
no image fetched from anywhere, so the page opens offline and can be mailed or archived as is.
Without matplotlib the page still has every table and says how to get the charts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from html import escape

from airflow_provider_sesinsights.insights import parse_timestamp
from airflow_provider_sesinsights.report import charts
from airflow_provider_sesinsights.report.summary import GroupSummary, Summary, format_rate, format_seconds

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem; color: #212121; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
p.meta, p.note { color: #555; font-size: 0.9rem; }
.kpis { display: flex; flex-wrap: wrap; gap: 0.8rem; margin: 1rem 0; }
.kpi { border: 1px solid #ddd; border-radius: 6px; padding: 0.5rem 0.9rem; min-width: 8rem; }
.kpi .value { font-size: 1.3rem; font-weight: 600; }
.kpi .label { font-size: 0.8rem; color: #555; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.5rem 0; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.4rem; text-align: right; }
td { white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f5f5f5; }
tr.total td { font-weight: 600; background: #fafafa; }
.table-wrap { overflow-x: auto; }
#bounce-reasons td { text-align: left; }
#bounce-reasons td:last-child { text-align: right; }
.chart { margin: 1rem 0; }
.chart svg { max-width: 100%; height: auto; }
"""


def _bounces(group: GroupSummary) -> str:
    kinds = (group.bounced_permanent, group.bounced_transient, group.bounced_undetermined)
    return f"{group.bounced} ({' / '.join(str(count) for count in kinds)})"


def _delivery_times(group: GroupSummary) -> str:
    times = (group.delivery_p50_s, group.delivery_p90_s, group.delivery_p99_s)
    return " / ".join(format_seconds(value) for value in times)


_GROUP_COLUMNS: tuple[tuple[str, Callable[[GroupSummary], str]], ...] = (
    ("Sends", lambda g: str(g.sends)),
    ("Untracked", lambda g: str(g.untracked)),
    ("Delivered", lambda g: str(g.delivered)),
    ("Delivery rate", lambda g: format_rate(g.delivery_rate)),
    ("Bounced (P / T / U)", _bounces),
    ("Bounce rate", lambda g: format_rate(g.bounce_rate)),
    ("Complained", lambda g: str(g.complained)),
    ("Complaint rate", lambda g: format_rate(g.complaint_rate)),
    ("Open rate", lambda g: format_rate(g.open_rate)),
    ("Click rate", lambda g: format_rate(g.click_rate)),
    ("Delayed", lambda g: str(g.delayed)),
    ("Failed", lambda g: str(g.failed)),
    ("Pending", lambda g: str(g.pending)),
    ("Delivery p50 / p90 / p99", _delivery_times),
)


def _group_table(
    table_id: str, first_header: str, groups: Sequence[GroupSummary], total: GroupSummary
) -> str:
    header = "".join(f"<th>{escape(label)}</th>" for label, _ in _GROUP_COLUMNS)
    rows = []
    for group, css in [(total, ' class="total"'), *((g, "") for g in groups)]:
        cells = "".join(f"<td>{escape(cell(group))}</td>" for _, cell in _GROUP_COLUMNS)
        rows.append(f"<tr{css}><td>{escape(group.name)}</td>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table id="{escape(table_id)}">'
        f"<thead><tr><th>{escape(first_header)}</th>{header}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _kpis(summary: Summary) -> str:
    o = summary.overall
    items = (
        ("Messages", str(o.messages)),
        ("Sends", str(o.sends)),
        ("Delivery rate", format_rate(o.delivery_rate)),
        ("Bounce rate", format_rate(o.bounce_rate)),
        ("Complaint rate", format_rate(o.complaint_rate)),
        ("Open rate", format_rate(o.open_rate)),
        ("Delivery p50 / p90 / p99", _delivery_times(o)),
    )
    cards = "".join(
        f'<div class="kpi"><div class="value">{escape(value)}</div>'
        f'<div class="label">{escape(label)}</div></div>'
        for label, value in items
    )
    return f'<div class="kpis" id="kpis">{cards}</div>'


def _charts_section(summary: Summary) -> str:
    try:
        drawn = [
            ("chart-isp-rates", "Rates per ISP", charts.rates_by_isp_svg(summary)),
            ("chart-delivery-time", "Delivery time distribution", charts.delivery_time_svg(summary)),
        ]
    except ImportError:
        return (
            '<p class="note" id="charts-missing">Charts need matplotlib: '
            f"<code>{escape(charts.CHARTS_INSTALL_HINT)}</code></p>"
        )
    parts = [
        f'<figure class="chart" id="{chart_id}" aria-label="{escape(label)}">{svg}</figure>'
        for chart_id, label, svg in drawn
        if svg is not None
    ]
    return "".join(parts) or '<p class="note">No data to chart.</p>'


def _bounce_reasons(summary: Summary) -> str:
    if not summary.bounce_reasons:
        return "<p>No bounces.</p>"
    rows = "".join(
        f"<tr><td>{escape(kind)}</td><td>{escape(subtype or '-')}</td><td>{count}</td></tr>"
        for kind, subtype, count in summary.bounce_reasons
    )
    return (
        '<table id="bounce-reasons"><thead>'
        "<tr><th>Bounce type</th><th>Subtype</th><th>Sends</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _minute(timestamp: str | None) -> str:
    if timestamp is None:
        return "-"
    return parse_timestamp(timestamp).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render_html(
    summary: Summary,
    *,
    title: str = "SES deliverability report",
    recipients_hashed: bool = False,
    generated_at: datetime | None = None,
) -> str:
    """Return the report page as one HTML document.

    :param title: page heading, for example with the report's date.
    :param recipients_hashed: say on the page that recipient addresses were pseudonymised.
    :param generated_at: time shown as the generation time; now (UTC) by default.
    """
    generated = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    period = f"{_minute(summary.first_send)} to {_minute(summary.last_send)}"
    notes = [
        "Unit: one send (a message to one recipient). Delivery, bounce and complaint rates are "
        "shares of tracked sends; open and click rates are shares of delivered sends. SES reports "
        "no delivery, bounce, complaint, open or click for messages with several recipients: "
        "their sends are counted as untracked. Bounces: P / T / U = permanent / transient / undetermined.",
    ]
    if recipients_hashed:
        notes.append("Recipient addresses are pseudonymised (keyed hash) in every output of this report.")
    if summary.without_insights:
        notes.append(f"{len(summary.without_insights)} message ID(s) had no insights and are not counted.")
    tag_sections = "".join(
        f"<h2>Per {escape(tag)}</h2>" + _group_table(f"by-tag-{tag}", tag, groups, summary.overall)
        for tag, groups in summary.by_tag.items()
    )
    notes_html = "".join(f'<p class="note">{escape(note)}</p>' for note in notes)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="meta">Sends from {escape(period)}. Generated {escape(generated)}.</p>'
        f"{_kpis(summary)}{notes_html}"
        "<h2>Per ISP</h2>"
        f"{_group_table('by-isp', 'ISP', summary.by_isp, summary.overall)}"
        f"{tag_sections}"
        f"<h2>Charts</h2>{_charts_section(summary)}"
        f"<h2>Bounce reasons</h2>{_bounce_reasons(summary)}"
        "</body></html>\n"
    )
