"""Charts of a deliverability summary, drawn with matplotlib as inline SVG.

matplotlib is the optional extra ``charts`` and is imported only when a chart is drawn, so the
report (and the package) works without it. Text stays text (``svg.fonttype: none``, drawn
with the browser's local fonts), so nothing is fetched and the labels are searchable; each
chart's element IDs get their own prefix so several charts can share one HTML page.
"""

from __future__ import annotations

import io
import math
import re
from typing import TYPE_CHECKING

from airflow_provider_sesinsights.report.summary import Summary, format_seconds

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CHARTS_INSTALL_HINT = "pip install 'airflow-provider-sesinsights[charts]'"
"""What to install for charts; the HTML page shows it when matplotlib is missing."""

_ID_REFERENCE = re.compile(r'(\bid="|url\(#|xlink:href="#|\bhref="#)([^"\)]+)')
_COLOURS = {"delivered": "#2e7d32", "PERMANENT": "#c62828", "TRANSIENT": "#ef6c00", "UNDETERMINED": "#9e9e9e"}


def _svg(figure: Figure, prefix: str) -> str:
    """Render ``figure`` as an ``<svg>`` element ready to inline in HTML."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": prefix}):
        figure.savefig(
            buffer,
            format="svg",
            bbox_inches="tight",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    return _ID_REFERENCE.sub(lambda match: f"{match.group(1)}{prefix}-{match.group(2)}", text)


def rates_by_isp_svg(summary: Summary) -> str | None:
    """Delivery, bounce (by type) and complaint rates per ISP as three bar panels; ``None`` if empty.

    :raises ImportError: matplotlib is not installed.
    """
    from matplotlib.figure import Figure

    groups = [group for group in summary.by_isp if group.tracked]
    if not groups:
        return None
    names = [group.name for group in groups][::-1]
    ordered = groups[::-1]
    figure = Figure(figsize=(9.0, 0.45 * len(groups) + 1.4))
    delivery, bounce, complaint = figure.subplots(1, 3, sharey=True)
    delivery.barh(names, [100 * (g.delivery_rate or 0) for g in ordered], color=_COLOURS["delivered"])
    delivery.set_xlim(0, 100)
    delivery.set_title("Delivered (% of tracked sends)", fontsize=9)
    left = [0.0] * len(ordered)
    for bounce_type, attribute in (
        ("PERMANENT", "bounced_permanent"),
        ("TRANSIENT", "bounced_transient"),
        ("UNDETERMINED", "bounced_undetermined"),
    ):
        widths = [100 * getattr(g, attribute) / g.tracked for g in ordered]
        bounce.barh(names, widths, left=left, color=_COLOURS[bounce_type], label=bounce_type.lower())
        left = [a + b for a, b in zip(left, widths, strict=True)]
    bounce.set_title("Bounced (% of tracked sends)", fontsize=9)
    bounce.legend(fontsize=7, loc="lower right")
    complaint.barh(names, [100 * (g.complaint_rate or 0) for g in ordered], color="#6a1b9a")
    complaint.set_title("Complained (% of tracked sends)", fontsize=9)
    for axes in (delivery, bounce, complaint):
        axes.tick_params(labelsize=8)
        axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return _svg(figure, "isp-rates")


def delivery_time_svg(summary: Summary) -> str | None:
    """Histogram of SEND-to-DELIVERY times on a log scale, with p50/p90/p99 marked; ``None`` if empty.

    :raises ImportError: matplotlib is not installed.
    """
    from matplotlib.figure import Figure

    seconds = [max(value, 0.001) for value in summary.delivery_seconds]
    if not seconds:
        return None
    low, high = math.log10(min(seconds)), math.log10(max(seconds))
    if high - low < 0.5:
        low, high = low - 0.25, high + 0.25
    count = 30
    edges = [10 ** (low + (high - low) * i / count) for i in range(count + 1)]
    figure = Figure(figsize=(9.0, 3.2))
    axes = figure.subplots()
    axes.hist(seconds, bins=edges, color="#1565c0")
    axes.set_xscale("log")
    overall = summary.overall
    for label, value, style in (
        ("p50", overall.delivery_p50_s, "-"),
        ("p90", overall.delivery_p90_s, "--"),
        ("p99", overall.delivery_p99_s, ":"),
    ):
        if value is not None:
            axes.axvline(
                max(value, 0.001), color="#212121", linestyle=style, label=f"{label} {format_seconds(value)}"
            )
    axes.set_xlabel("seconds from SEND to DELIVERY (log scale)", fontsize=9)
    axes.set_ylabel("sends", fontsize=9)
    axes.set_title("Delivery time", fontsize=10)
    axes.legend(fontsize=8)
    axes.tick_params(labelsize=8)
    figure.tight_layout()
    return _svg(figure, "delivery-time")
