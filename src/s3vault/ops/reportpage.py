"""The report page: ReportData drawn as one self-contained HTML file — inline SVG plots from
pygal (the ``report`` extra), an inline style sheet, the fleet table, and no script, font or
image from anywhere: it opens with no network.

pygal was chosen by measurement (docs/fleet.md): it adds 1.9 MB to an install and 0.1 s to
start-up and draws SVG that needs no JavaScript; plotly adds 73 MB and embeds 4.8 MB of
JavaScript in every page, matplotlib adds 177 MB (numpy, pillow, fonttools) and 1 s of
start-up.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import Any

from s3vault.errors import ReportError
from s3vault.ops.fleetrows import HostRow, size, span
from s3vault.ops.report import GENERATOR, Figure, ReportData

SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
INSTALL = "pip install 's3vault[report]'"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
p.meta { color: #555; margin-top: 0; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 1em; }
figure.plot { margin: 0; border: 1px solid #ddd; border-radius: 4px; padding: 0.5em; }
figure.plot figcaption { font-weight: 600; margin-bottom: 0.3em; }
figure.plot svg { width: 100%; height: auto; display: block; }
figure.plot .placeholder { height: 200px; display: flex; align-items: center;
  justify-content: center; color: #777; background: #f6f6f6; font-style: italic; }
table#fleet { border-collapse: collapse; margin-top: 1.5em; font-size: 0.9em; }
table#fleet th, table#fleet td { border-bottom: 1px solid #ddd; padding: 0.3em 0.6em;
  text-align: left; vertical-align: top; }
table#fleet tr.overdue td { background: #fde2e2; }
table#fleet tr.late td { background: #fff4d6; }
"""


def _pygal() -> Any:
    try:
        import pygal
    except ImportError:
        raise ReportError(f"report needs the plotting extra: {INSTALL}") from None
    return pygal


def render(data: ReportData) -> str:
    """The page as one HTML string.

    Raises:
        ReportError: pygal (the ``report`` extra) is not installed.
    """
    pygal = _pygal()
    figures = "\n".join(_figure(pygal, f) for f in data.figures)
    title = html.escape(data.title)
    meta = (
        f"{html.escape(data.repository)} · {data.start:%Y-%m-%d} to {data.now:%Y-%m-%d %H:%M} "
        f"UTC · {len(data.fleet.rows)} hosts, {len(data.fleet.overdue)} overdue"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="generator" content="{GENERATOR}">'
        f"<title>{title}</title><style>{STYLE}</style></head><body>"
        f'<h1>{title}</h1><p class="meta">{meta}</p>'
        f'<div class="plots">{figures}</div>'
        f"<h2>Fleet</h2>{_table(data)}</body></html>\n"
    )


def _drawable(figure: Figure) -> Figure:
    """The figure without series that have no value (pygal cannot draw an axis of none);
    a secondary series alone is drawn on the primary axis."""
    series = [s for s in figure.series if any(v is not None for _, v in s.points)]
    if series and all(s.secondary for s in series):
        series = [replace(s, secondary=False) for s in series]
    return replace(figure, series=tuple(series))


def _figure(pygal: Any, figure: Figure) -> str:
    caption = f"<figcaption>{html.escape(figure.title)}</figcaption>"
    figure = _drawable(figure)
    if figure.placeholder or not figure.series:
        text = html.escape(figure.placeholder or "no data in this period")
        return (
            f'<figure class="plot empty" id="{figure.id}">{caption}'
            f'<div class="placeholder">{text}</div></figure>'
        )
    return f'<figure class="plot" id="{figure.id}">{caption}{_svg(pygal, figure)}</figure>'


def _svg(pygal: Any, figure: Figure) -> str:
    """The figure drawn by pygal as inline SVG (no script: ``js=[]``)."""
    labels: list[str] = []
    seen: set[str] = set()
    for s in figure.series:
        for x, _ in s.points:
            if x not in seen:
                seen.add(x)
                labels.append(x)
    if figure.kind == "time":
        labels.sort()
    kind = {"bar": pygal.Bar, "stacked": pygal.StackedBar}.get(figure.kind, pygal.Line)
    config = pygal.Config(
        js=[],
        disable_xml_declaration=True,
        width=800,
        height=360,
        x_label_rotation=30,
        show_minor_x_labels=False,
        x_labels_major_every=max(1, len(labels) // 12),
        legend_at_bottom=True,
        legend_at_bottom_columns=4,
        y_title=figure.y_title,
        truncate_legend=30,
        show_dots=figure.kind == "time",
        include_x_axis=True,  # bars and sizes from zero
        style=pygal.style.CleanStyle(font_family="sans-serif"),
    )
    chart = kind(config)
    chart.x_labels = labels
    for s in figure.series:
        values = dict(s.points)
        chart.add(s.name, [values.get(x) for x in labels], secondary=s.secondary)
    svg: str = chart.render(is_unicode=True)
    # pygal writes its tooltip script's settings even without the script: no script at all
    return SCRIPT.sub("", COMMENT.sub("", svg))


def _cell(text: str) -> str:
    return f"<td>{html.escape(text)}</td>"


def _row(row: HostRow, ledger: bool) -> str:
    age = span(row.age_seconds) if row.age_seconds is not None else "never"
    expected = span(row.expected_seconds) if row.expected_seconds else "?"
    drill = "-"
    if row.drill_time is not None:
        drill = f"{row.drill_time:%Y-%m-%d} {'passed' if row.drill_passed else 'FAILED'}"
        if row.drill_rto_seconds is not None:
            drill += f", RTO {span(row.drill_rto_seconds)}"
    proven = row.proven_text(ledger=ledger)
    cells = [
        row.host,
        row.status,
        f"{row.last_success:%Y-%m-%d %H:%M}" if row.last_success else "-",
        f"{age} / {'~' if row.schedule == 'inferred' else ''}{expected}",
        size(row.last_bytes) if row.last_success else "-",
        size(row.last_added) if row.last_success else "-",
        drill,
        proven,
        "; ".join(row.warnings),
    ]
    return (
        f'<tr class="{row.status}" data-host="{html.escape(row.host)}">'
        + "".join(_cell(c) for c in cells)
        + "</tr>"
    )


def _table(data: ReportData) -> str:
    heads = [
        "host",
        "status",
        "last success",
        "age / interval",
        "size",
        "added",
        "last drill",
        "last proven",
        "warnings",
    ]
    head = "".join(f"<th>{h}</th>" for h in heads)
    ledger = data.fleet.ledger is not None
    body = "".join(_row(r, ledger) for r in data.fleet.rows)
    return f'<table id="fleet"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
