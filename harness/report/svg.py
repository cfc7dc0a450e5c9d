"""The timeline picture as inline SVG: child orders/s over exposure, with marks.

Two stacked panels share one time axis (seconds from the method start);
every mark is a dashed vertical line through both panels, labelled above
them on staggered rows so that close marks stay readable.
"""
from __future__ import annotations

import math
from html import escape

from powerpeg.harness.measure import Mark, Series

WIDTH, LEFT, RIGHT = 960, 78, 24
PANEL_H, GAP, BOTTOM = 150, 34, 34
LABEL_ROW_H, LABEL_ROWS = 15, 5
CHAR_W = 6.4  # approximate width of one 11px sans-serif character
MAX_POINTS = 900  # one point per pixel or so; a long run is reduced by peak per group

COLORS = {
    "fault_injected": "#d62728", "fault_reverted": "#2ca02c", "first_violation": "#9467bd",
    "detected": "#ff7f0e", "kill": "#111111", "contained": "#1f77b4", "abort": "#8c564b",
    "market_open": "#7f7f7f",
}


def human(value: float, prefix: str = "") -> str:
    """``1234567`` → ``1.23M``: axis ticks that fit."""
    size = abs(value)
    for bound, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= bound:
            return f"{'-' if value < 0 else ''}{prefix}{size / bound:.3g}{suffix}"
    return f"{'-' if value < 0 else ''}{prefix}{size:.3g}"


def _nice_step(span: float, ticks: int = 8) -> float:
    raw = span / ticks if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _reduce(values: list[float]) -> tuple[list[float], int]:
    """At most MAX_POINTS values, each the peak of its group (a spike must stay visible)."""
    group = max(1, math.ceil(len(values) / MAX_POINTS))
    if group == 1:
        return list(values), 1
    return [max(values[i:i + group]) for i in range(0, len(values), group)], group


class _Frame:
    """Maps seconds to x pixels."""

    def __init__(self, t_min: float, t_max: float) -> None:
        self.t_min, self.t_max = t_min, max(t_max, t_min + 1e-9)

    def x(self, t: float) -> float:
        return LEFT + (t - self.t_min) / (self.t_max - self.t_min) * (WIDTH - LEFT - RIGHT)


def _panel(frame: _Frame, top: float, values: list[float], bucket_s: float, title: str, color: str,
           prefix: str) -> list[str]:
    out = [f'<rect x="{LEFT}" y="{top}" width="{WIDTH - LEFT - RIGHT}" height="{PANEL_H}" '
           'fill="#fafafa" stroke="#ccc"/>',
           f'<text x="{LEFT + 6}" y="{top + 14}" class="t">{escape(title)}</text>']
    if not values:
        out.append(f'<text x="{WIDTH / 2}" y="{top + PANEL_H / 2}" class="t" text-anchor="middle">no data</text>')
        return out
    points, group = _reduce(values)
    peak = max(points) or 1.0
    bottom = top + PANEL_H

    def y(v: float) -> float:
        return bottom - v / peak * (PANEL_H - 22)

    step_s = bucket_s * group
    path = [f"{frame.x(0):.1f},{bottom:.1f}"]
    for i, v in enumerate(points):
        path.append(f"{frame.x(i * step_s):.1f},{y(v):.1f}")
        path.append(f"{frame.x((i + 1) * step_s):.1f},{y(v):.1f}")
    path.append(f"{frame.x(len(points) * step_s):.1f},{bottom:.1f}")
    out.append(f'<polygon points="{" ".join(path)}" fill="{color}" fill-opacity="0.25" '
               f'stroke="{color}" stroke-width="1.2"/>')
    for v in (0.0, peak / 2, peak):
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" class="a" text-anchor="end">'
                   f'{escape(human(v, prefix))}</text>')
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e4e4e4"/>')
    return out


def _label_rows(xs: list[float], labels: list[str]) -> list[int]:
    """A row per label such that labels on one row do not overlap (left to right)."""
    ends = [-math.inf] * LABEL_ROWS
    rows = []
    for x, label in zip(xs, labels, strict=True):
        width = len(label) * CHAR_W
        start = x - width - 6 if x + width > WIDTH - 4 else x
        row = next((r for r in range(LABEL_ROWS) if ends[r] < start), min(range(LABEL_ROWS), key=lambda r: ends[r]))
        ends[row] = start + width + 8
        rows.append(row)
    return rows


def timeline(series: Series | None, marks: list[Mark], title: str = "timeline") -> str:
    """The picture; an empty run gets a frame saying so rather than nothing."""
    header = LABEL_ROW_H * LABEL_ROWS + 10
    height = header + 2 * PANEL_H + GAP + BOTTOM
    svg = [f'<svg class="timeline" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
           f'role="img" aria-label="{escape(title)}">',
           "<style>.t{font:12px sans-serif;fill:#333}.a{font:11px sans-serif;fill:#555}"
           ".m{font:11px sans-serif}</style>"]
    if series is None or series.t0_ns is None:
        svg.append(f'<text x="{WIDTH / 2}" y="{height / 2}" class="t" text-anchor="middle">'
                   'no timeline data</text></svg>')
        return "\n".join(svg)
    t0 = series.t0_ns
    rate, exposure = series.child_orders_per_s, series.exposure_usd
    rel = sorted((((m.ts_ns - t0) / 1e9, m) for m in marks), key=lambda pair: pair[0]) if marks else []
    span = max(len(rate), len(exposure)) * series.bucket_s
    frame = _Frame(min([0.0] + [t for t, _ in rel]), max([span] + [t for t, _ in rel]))
    top1, top2 = header, header + PANEL_H + GAP
    svg += _panel(frame, top1, rate, series.bucket_s, "child orders accepted / s", "#1f77b4", "")
    svg += _panel(frame, top2, exposure, series.bucket_s, "gross exposure (USD)", "#ff7f0e", "$")
    axis_y = top2 + PANEL_H
    step = _nice_step(frame.t_max - frame.t_min)
    tick = math.ceil(frame.t_min / step) * step
    while tick <= frame.t_max + 1e-9:
        x = frame.x(tick)
        svg.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{axis_y}" y2="{axis_y + 4}" stroke="#555"/>')
        svg.append(f'<text x="{x:.1f}" y="{axis_y + 16}" class="a" text-anchor="middle">{tick:g}s</text>')
        tick += step
    svg.append(f'<text x="{WIDTH - RIGHT}" y="{axis_y + 30}" class="a" text-anchor="end">'
               'seconds from method start</text>')
    xs = [frame.x(t) for t, _ in rel]
    labels = [f"{m.label} @{t:.2f}s" for t, m in rel]
    for x, label, row, (_, mark) in zip(xs, labels, _label_rows(xs, labels), rel, strict=True):
        color = COLORS.get(mark.kind, "#444")
        y_label = 12 + row * LABEL_ROW_H
        svg.append(f'<line class="mark {escape(mark.kind)}" x1="{x:.1f}" x2="{x:.1f}" y1="{y_label + 3}" y2="{axis_y}" '
                   f'stroke="{color}" stroke-width="1.4" stroke-dasharray="4 3"/>')
        # a label that would run off the right edge hangs to the left of its line instead
        if x + len(label) * CHAR_W > WIDTH - 4:
            svg.append(f'<text x="{x - 3:.1f}" y="{y_label}" class="m" fill="{color}" text-anchor="end">'
                       f'{escape(label)}</text>')
        else:
            svg.append(f'<text x="{x + 3:.1f}" y="{y_label}" class="m" fill="{color}">{escape(label)}</text>')
    svg.append("</svg>")
    return "\n".join(svg)
