"""Charts as inline SVG, written here as text: no chart library, no network, no fonts to fetch.

A chart library costs 30-100 ms a chart (matplotlib, Vega-Lite through vl-convert) and a
national round's site has well over a thousand; these functions take well under a millisecond
each, and the same data always gives the same bytes. Every chart
- has a title and a description (`<title>`, `<desc>`: the alt text, which lists the values) and
  is followed on the page by a table of the same numbers;
- reads in grayscale: series differ in lightness and in pattern (bars) or in dash and marker
  (lines), values are written beside the bars, and a legend names the series;
- shows a withheld value as '..' (no bar, no point) and a value that does not apply as '–'.
Numbers are Swedish (decimal comma, no-break space between thousands).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from ..formats import swedish_int, swedish_number
from ..statistics import WITHHELD

NOT_APPLICABLE = "–"

# Fills of the series, darkest first; patterns are defined once per page (PATTERN_DEFS).
BAR_STYLES = (
    'fill="#1d3557"',  # dark
    'fill="url(#sk-streck)" stroke="#1d3557" stroke-width="1"',  # striped
    'fill="#9fb4c9" stroke="#1d3557" stroke-width="1"',  # light
    'fill="url(#sk-prick)" stroke="#1d3557" stroke-width="1"',  # dotted
    'fill="#ffffff" stroke="#1d3557" stroke-width="1.5"',  # white
    'fill="#5f6b78"',  # grey
)
MISSING_STYLE = 'fill="url(#sk-saknas)" stroke="#8a4b00" stroke-width="1"'
LINE_STYLES = (  # (stroke-dasharray, marker, colour)
    ("", "circle", "#1d3557"),
    ("7 4", "square", "#4a6a8a"),
    ("2 3", "triangle", "#1d3557"),
    ("9 3 2 3", "diamond", "#6d6d6d"),
    ("4 4", "cross", "#000000"),
)

PATTERN_DEFS = (
    '<svg class="sk-defs" width="0" height="0" aria-hidden="true" focusable="false"><defs>'
    '<pattern id="sk-streck" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#dfe7ef"/>'
    '<rect width="3" height="6" fill="#1d3557"/></pattern>'
    '<pattern id="sk-prick" width="5" height="5" patternUnits="userSpaceOnUse">'
    '<rect width="5" height="5" fill="#ffffff"/><circle cx="2.5" cy="2.5" r="1.3" fill="#1d3557"/>'
    "</pattern>"
    '<pattern id="sk-saknas" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(-45)"><rect width="6" height="6" fill="#f4a340"/>'
    '<rect width="2" height="6" fill="#ffffff"/></pattern>'
    "</defs></svg>"
)

FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif"'
CHAR_WIDTH = 7.0  # px per character at 12 px (generous), for wrapping and sizing


def number_text(value, unit: str = "", decimals: int = 1) -> str:
    """A value as the chart and table show it: '..' withheld, '–' not applicable."""
    if value == WITHHELD:
        return WITHHELD
    if value is None:
        return NOT_APPLICABLE
    if unit == "antal":
        return swedish_int(value)
    text = swedish_number(value, decimals)
    return f"{text}\u00a0%" if unit == "%" else text


def _wrap(text: str, width: int, lines: int = 3) -> list[str]:
    words, out, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    out.append(line)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: max(0, width - 1)].rstrip() + "…"
    return out


def _axis(largest: float) -> tuple[float, list[float]]:
    """The axis maximum and its ticks: 4-5 steps of 1, 2, 2.5 or 5 times a power of ten."""
    if largest <= 0:
        return 1.0, [0.0, 0.25, 0.5, 0.75, 1.0]
    raw = largest / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    maximum = step * math.ceil(largest / step - 1e-9)
    return maximum, [step * i for i in range(round(maximum / step) + 1)]


def _tick_text(value: float, unit: str) -> str:
    return number_text(value, unit, 0 if float(value).is_integer() else 1)


def _svg_open(chart_id: str, width: float, height: float, title: str, description: str) -> str:
    return (
        f'<svg class="sk-chart" id="{chart_id}" role="img" viewBox="0 0 {width:.0f} '
        f'{height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" {FONT} font-size="12">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(description)}</desc>'
    )


def _legend(
    names: Sequence[str], swatches: Sequence[str], x: float, y: float, right: float
) -> tuple[str, float]:
    """Legend items left to right, wrapping at `right`; returns the SVG and the y below it."""
    parts, cx = [], x
    for name, swatch in zip(names, swatches, strict=True):
        item = 32 + CHAR_WIDTH * len(name)
        if cx > x and cx + item > right:
            cx, y = x, y + 18
        parts.append(
            swatch.format(x=cx, y=y) + f'<text x="{cx + 24:.1f}" y="{y:.1f}">{escape(name)}</text>'
        )
        cx += item + 8
    return "".join(parts), y + 14


def _bar_swatch(style: str) -> str:
    return (
        '<rect x="{x:.1f}" y="{y:.1f}" width="18" height="12" '
        + style
        + ' transform="translate(0,-10)"/>'
    )


def _line_swatch(dash: str, marker: str, colour: str) -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        '<g transform="translate({x:.1f},{y:.1f})"><line x1="0" y1="-4" x2="20" y2="-4" '
        f'stroke="{colour}" stroke-width="2"{dashed}/>'
        + _marker(marker, 10, -4, colour).replace("{", "{{").replace("}", "}}")
        + "</g>"
    )


def _describe(kind: str, labels: Sequence[str], series: Sequence[Series], unit: str) -> str:
    parts = []
    for serie in series:
        values = ", ".join(
            f"{label} {number_text(value, unit)}"
            for label, value in zip(labels, serie.values, strict=True)
        )
        parts.append(f"{serie.name}: {values}." if len(series) > 1 else f"{values}.")
    hidden = any(value == WITHHELD for serie in series for value in serie.values)
    return (
        f"{kind}. "
        + " ".join(parts)
        + (" Värden markerade .. redovisas inte (se fotnoten)." if hidden else "")
    )


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple  # one per category: a number, '..' (withheld) or None (does not apply)


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str = "%",
    width: int = 720,
) -> str:
    """Horizontal bars: one group per label, one bar per series."""
    label_width = 230
    plot_left, plot_right = label_width + 10, width - 70
    numbers = [v for s in series for v in s.values if isinstance(v, (int, float))]
    largest = max(numbers, default=0)
    maximum, ticks = (
        (100.0, [0, 25, 50, 75, 100])
        if unit == "%" and (largest > 50 or largest <= 0)
        else _axis(largest)
    )
    scale = (plot_right - plot_left) / maximum
    bar, gap = 13, 3
    group = len(series) * (bar + gap) + 10
    wrapped = [_wrap(label, int(label_width / CHAR_WIDTH)) for label in labels]
    heights = [max(group, 15 * len(lines) + 6) for lines in wrapped]
    body = []
    top = 10
    if len(series) > 1:
        legend, top = _legend(
            [s.name for s in series],
            [_bar_swatch(BAR_STYLES[i % len(BAR_STYLES)]) for i in range(len(series))],
            10,
            16,
            width - 10,
        )
        body.append(legend)
    height = top + sum(heights) + 28
    for tick in ticks:
        x = plot_left + tick * scale
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 24}" '
            f'stroke="#d0d0d0"/><text x="{x:.1f}" y="{height - 8}" text-anchor="middle" '
            f'fill="#444">{escape(_tick_text(tick, unit))}</text>'
        )
    y = top
    for lines, row_height, index in zip(wrapped, heights, range(len(labels)), strict=True):
        for n, line in enumerate(lines):
            body.append(
                f'<text x="{label_width}" y="{y + 12 + 15 * n}" text-anchor="end">'
                f"{escape(line)}</text>"
            )
        for s_index, serie in enumerate(series):
            value = serie.values[index]
            by = y + s_index * (bar + gap)
            if isinstance(value, (int, float)):
                length = max(value * scale, 0)
                body.append(
                    f'<rect x="{plot_left}" y="{by}" width="{length:.1f}" height="{bar}" '
                    f"{BAR_STYLES[s_index % len(BAR_STYLES)]}/>"
                )
                end = plot_left + length
            else:
                if value == WITHHELD:
                    body.append(_withheld_mark(plot_left, by + bar / 2))
                end = plot_left + (8 if value == WITHHELD else 0)
            body.append(
                f'<text x="{end + 4:.1f}" y="{by + 11}">{escape(number_text(value, unit))}</text>'
            )
        y += row_height
    body.append(
        f'<line x1="{plot_left}" y1="{top - 4}" x2="{plot_left}" y2="{height - 24}" stroke="#333"/>'
    )
    description = _describe("Stapeldiagram", labels, series, unit)
    return _svg_open(chart_id, width, height, title, description) + "".join(body) + "</svg>"


def funnel_chart(
    chart_id: str, title: str, phases: Sequence[tuple[str, object, str, object]], width: int = 720
) -> str:
    """Diagram 1: per phase a bar of the cases with the registration and, striped orange, the
    cases of the previous phase without it (label, count, missing label, missing count)."""
    label_width = 190
    plot_left, plot_right = label_width + 10, width - 150
    numbers = [
        v
        for _, count, _, missing in phases
        for v in (count, missing)
        if isinstance(v, (int, float))
    ]
    maximum, _ = _axis(max(numbers, default=0))
    scale = (plot_right - plot_left) / maximum
    bar, row = 20, 34
    legend, top = _legend(
        ["med registrering", "saknar registrering"],
        [_bar_swatch(BAR_STYLES[0]), _bar_swatch(MISSING_STYLE)],
        plot_left,
        16,
        width - 10,
    )
    top += 4
    height = top + row * len(phases) + 10
    body = [legend]
    y = top
    for label, count, missing_label, missing in phases:
        body.append(
            f'<text x="{label_width}" y="{y + 14}" text-anchor="end">{escape(label)}</text>'
        )
        x = plot_left
        if WITHHELD in (count, missing):
            body.append(_withheld_mark(x, y + bar / 2))
            x += 8
        if isinstance(count, (int, float)):
            body.append(
                f'<rect x="{x}" y="{y}" width="{count * scale:.1f}" height="{bar}" '
                f"{BAR_STYLES[0]}/>"
            )
            x += count * scale
        if isinstance(missing, (int, float)) and missing:
            body.append(
                f'<rect x="{x:.1f}" y="{y}" width="{missing * scale:.1f}" '
                f'height="{bar}" {MISSING_STYLE}/>'
            )
            x += missing * scale
        parts = [] if count is None else [number_text(count, "antal")]
        if missing_label or count is None:
            parts.append(f"{number_text(missing, 'antal')} {missing_label}".strip())
        text = " + ".join(parts)
        body.append(f'<text x="{x + 5:.1f}" y="{y + 14}">{escape(text)}</text>')
        y += row
    description = "Tratt. " + " ".join(
        f"{label}: {number_text(missing if count is None else count, 'antal')}"
        + (f", {missing_label} {number_text(missing, 'antal')}" if missing_label else "")
        + "."
        for label, count, missing_label, missing in phases
    )
    if any(WITHHELD in (count, missing) for _, count, _, missing in phases):
        description += " Värden markerade .. redovisas inte (se fotnoten)."
    return _svg_open(chart_id, width, height, title, description) + "".join(body) + "</svg>"


def _withheld_mark(x: float, y: float) -> str:
    """A withheld value: a small open square on the axis instead of a bar (read '..')."""
    return (
        f'<rect class="sk-dold" x="{x + 1:.1f}" y="{y - 3:.1f}" width="6" height="6" '
        'fill="#ffffff" stroke="#555555" stroke-width="1"/>'
    )


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if kind == "triangle":
        return (
            f'<path d="M{x:.1f} {y - 5:.1f} L{x + 5:.1f} {y + 4:.1f} L{x - 5:.1f} '
            f'{y + 4:.1f} Z" fill="#ffffff" stroke="{colour}" stroke-width="1.5"/>'
        )
    if kind == "diamond":
        return (
            f'<path d="M{x:.1f} {y - 5:.1f} L{x + 5:.1f} {y:.1f} L{x:.1f} {y + 5:.1f} '
            f'L{x - 5:.1f} {y:.1f} Z" fill="{colour}"/>'
        )
    return (
        f'<path d="M{x - 4:.1f} {y - 4:.1f} L{x + 4:.1f} {y + 4:.1f} M{x + 4:.1f} '
        f'{y - 4:.1f} L{x - 4:.1f} {y + 4:.1f}" stroke="{colour}" stroke-width="2"/>'
    )


def line_chart(
    chart_id: str,
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    unit: str = "",
    width: int = 720,
    height: int = 260,
) -> str:
    """Lines over x (years); a withheld or missing point breaks its line."""
    legend, top = _legend(
        [s.name for s in series],
        [_line_swatch(*LINE_STYLES[i % len(LINE_STYLES)]) for i in range(len(series))],
        10,
        16,
        width - 10,
    )
    top += 10
    height += top - 40
    plot_left, plot_right, bottom = 60, width - 30, height - 30
    numbers = [v for s in series for v in s.values if isinstance(v, (int, float))]
    maximum, ticks = _axis(max(numbers, default=0) * 1.05)
    step = (plot_right - plot_left) / max(len(x_labels), 1)

    def px(i: int) -> float:
        return plot_left + step * (i + 0.5)

    def py(value: float) -> float:
        return bottom - (bottom - top) * value / maximum

    body = [legend]
    for tick in ticks:
        y = py(tick)
        body.append(
            f'<line x1="{plot_left}" y1="{y:.1f}" x2="{plot_right}" y2="{y:.1f}" '
            f'stroke="#d0d0d0"/><text x="{plot_left - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end" fill="#444">{escape(_tick_text(tick, unit))}</text>'
        )
    for i, label in enumerate(x_labels):
        body.append(
            f'<text x="{px(i):.1f}" y="{height - 10}" text-anchor="middle">{escape(label)}</text>'
        )
    for s_index, serie in enumerate(series):
        dash, marker, colour = LINE_STYLES[s_index % len(LINE_STYLES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        run: list[tuple[float, float]] = []
        runs = [run]
        for i, value in enumerate(serie.values):
            if isinstance(value, (int, float)):
                run.append((px(i), py(value)))
            else:
                run = []
                runs.append(run)
                if value == WITHHELD:
                    body.append(
                        f'<text x="{px(i) + 6:.1f}" y="{bottom - 6 - 12 * s_index}" '
                        f'fill="{colour}">..</text>'
                    )
        for points in runs:
            if len(points) > 1:
                path = " ".join(
                    f"{'M' if n == 0 else 'L'}{x:.1f} {y:.1f}" for n, (x, y) in enumerate(points)
                )
                body.append(
                    f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"{dashed}/>'
                )
            body.extend(_marker(marker, x, y, colour) for x, y in points)
    body.append(
        f'<line x1="{plot_left}" y1="{bottom}" x2="{plot_right}" y2="{bottom}" stroke="#333"/>'
    )
    description = _describe("Linjediagram", x_labels, series, unit)
    return _svg_open(chart_id, width, height, title, description) + "".join(body) + "</svg>"
