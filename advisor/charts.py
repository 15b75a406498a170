"""Inline SVG charts without dependencies: horizontal bar charts (also grouped, also negative) and line charts.

Every function returns a complete `<svg>` element as a string, with all text escaped, ready to be embedded in
an HTML page (mark it safe in Jinja2). The backends reuse `line_chart` for loss curves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#dc2626", "#0891b2", "#64748b")
APPROACH_COLOURS = {"rag": "#2563eb", "fine-tuning": "#d97706", "hybrid": "#059669", "baseline": "#64748b"}
_FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


def _fmt(value: float, fmt: str) -> str:
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return str(value)


def _colour(name: str, index: int) -> str:
    return APPROACH_COLOURS.get(name, PALETTE[index % len(PALETTE)])


def _open(width: int, height: int, title: str) -> list[str]:
    label = escape(title or "chart")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px;{_FONT}" role="img" aria-label="{label}">',
        f"<title>{label}</title>",
    ]
    if title:
        parts.append(f'<text x="0" y="16" font-size="14" font-weight="600" fill="#0f172a">{escape(title)}</text>')
    return parts


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str = "",
    width: int = 560,
    bar_height: int = 22,
    value_format: str = ".2f",
    min_value: float | None = None,
    max_value: float | None = None,
    highlight: str | None = None,
    colours: Mapping[str, str] | None = None,
) -> str:
    """Horizontal bars, one per (label, value); negative values extend left of a zero line.

    `highlight` draws that label's bar in bold; `colours` maps labels to colours (default: approach colours).
    """
    return grouped_bar_chart(
        [label for label, _ in items],
        {"": [value for _, value in items]},
        title=title, width=width, bar_height=bar_height, value_format=value_format,
        min_value=min_value, max_value=max_value, highlight=highlight, colours=colours, legend=False,
    )


def grouped_bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    width: int = 560,
    bar_height: int = 14,
    value_format: str = ".2f",
    min_value: float | None = None,
    max_value: float | None = None,
    highlight: str | None = None,
    colours: Mapping[str, str] | None = None,
    legend: bool = True,
) -> str:
    """Horizontal grouped bars: for each category one bar per series; supports negative values."""
    names = list(series)
    values = [float(v) for name in names for v in series[name] if v is not None and math.isfinite(float(v))]
    lo = min([0.0, *values]) if min_value is None else min_value
    hi = max([0.0, *values]) if max_value is None else max_value
    if hi - lo < 1e-12:
        hi = lo + 1.0
    label_w = min(220, max(60, 7 * max((len(c) for c in categories), default=4) + 12))
    value_w = 56
    plot_x, plot_w = label_w, max(60, width - label_w - value_w)
    top = 28 if title else 6
    legend_h = 22 if legend and len(names) > 1 else 0
    group_h = bar_height * len(names) + 8
    height = top + legend_h + group_h * len(categories) + 10
    parts = _open(width, height, title)

    def x_of(v: float) -> float:
        return plot_x + (min(max(v, lo), hi) - lo) / (hi - lo) * plot_w

    if legend_h:
        lx = plot_x
        for i, name in enumerate(names):
            colour = (colours or {}).get(name, _colour(name, i))
            parts.append(f'<rect x="{lx}" y="{top + 2}" width="12" height="12" rx="2" fill="{colour}"/>')
            parts.append(f'<text x="{lx + 16}" y="{top + 12}" font-size="12" fill="#334155">{escape(name)}</text>')
            lx += 28 + 7 * len(name)
    y0 = top + legend_h
    zero = x_of(0.0)
    for ci, category in enumerate(categories):
        gy = y0 + ci * group_h
        weight = "700" if highlight is not None and category == highlight else "400"
        parts.append(
            f'<text x="{label_w - 8}" y="{gy + group_h / 2 + 3:.1f}" font-size="12" text-anchor="end" '
            f'font-weight="{weight}" fill="#0f172a">{escape(category)}</text>'
        )
        for si, name in enumerate(names):
            raw = series[name][ci] if ci < len(series[name]) else None
            y = gy + 4 + si * bar_height
            if raw is None or not math.isfinite(float(raw)):
                parts.append(
                    f'<text x="{plot_x + 4}" y="{y + bar_height - 5}" font-size="11" fill="#94a3b8">n/a</text>'
                )
                continue
            value = float(raw)
            x1, x2 = sorted((zero, x_of(value)))
            colour = (colours or {}).get(
                category if not name else name, _colour(category if not name else name, ci if not name else si)
            )
            opacity = "1" if highlight is None or category == highlight or name else "0.55"
            parts.append(
                f'<rect x="{x1:.1f}" y="{y:.1f}" width="{max(x2 - x1, 1):.1f}" height="{bar_height - 3}" rx="2" '
                f'fill="{colour}" fill-opacity="{opacity}"><title>{escape(f"{category} {name}".strip())}: '
                f"{escape(_fmt(value, value_format))}</title></rect>"
            )
            parts.append(
                f'<text x="{plot_x + plot_w + 6}" y="{y + bar_height - 6:.1f}" font-size="11" fill="#334155">'
                f"{escape(_fmt(value, value_format))}</text>"
            )
    parts.append(
        f'<line x1="{zero:.1f}" y1="{y0}" x2="{zero:.1f}" y2="{height - 6}" stroke="#94a3b8" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    width: int = 560,
    height: int = 260,
    value_format: str = ".3g",
    colours: Mapping[str, str] | None = None,
) -> str:
    """Lines through (x, y) points, one per named series (e.g. training and evaluation loss per step)."""
    points = [
        (float(x), float(y))
        for pts in series.values()
        for x, y in pts
        if math.isfinite(float(x)) and math.isfinite(float(y))
    ]
    parts = _open(width, height, title)
    left, right, top, bottom = 56, 16, (30 if title else 10), 40
    plot_w, plot_h = width - left - right, height - top - bottom
    if not points:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" font-size="12" text-anchor="middle" fill="#94a3b8">'
            "no data</text></svg>"
        )
        return "".join(parts)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    if x_hi - x_lo < 1e-12:
        x_hi = x_lo + 1.0
    if y_hi - y_lo < 1e-12:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5

    def sx(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h

    for i in range(5):
        y = y_lo + (y_hi - y_lo) * i / 4
        parts.append(f'<line x1="{left}" y1="{sy(y):.1f}" x2="{left + plot_w}" y2="{sy(y):.1f}" stroke="#e2e8f0"/>')
        parts.append(
            f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" font-size="10" text-anchor="end" fill="#64748b">'
            f"{escape(_fmt(y, value_format))}</text>"
        )
    for i in range(5):
        x = x_lo + (x_hi - x_lo) * i / 4
        parts.append(
            f'<text x="{sx(x):.1f}" y="{top + plot_h + 14}" font-size="10" text-anchor="middle" '
            f'fill="#64748b">{escape(_fmt(x, ".4g"))}</text>'
        )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#94a3b8"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#94a3b8"/>')
    if x_label:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{height - 6}" font-size="11" text-anchor="middle" '
            f'fill="#334155">{escape(x_label)}</text>'
        )
    if y_label:
        parts.append(
            f'<text x="12" y="{top + plot_h / 2}" font-size="11" text-anchor="middle" fill="#334155" '
            f'transform="rotate(-90 12 {top + plot_h / 2})">{escape(y_label)}</text>'
        )
    lx = left + 8
    for i, (name, pts) in enumerate(series.items()):
        colour = (colours or {}).get(name, _colour(name, i))
        clean = [(float(x), float(y)) for x, y in pts if math.isfinite(float(x)) and math.isfinite(float(y))]
        if clean:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in clean)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            if len(clean) == 1:
                parts.append(f'<circle cx="{sx(clean[0][0]):.1f}" cy="{sy(clean[0][1]):.1f}" r="3" fill="{colour}"/>')
        if len(series) > 1:
            parts.append(f'<rect x="{lx}" y="{top + 2}" width="10" height="10" fill="{colour}"/>')
            parts.append(f'<text x="{lx + 14}" y="{top + 11}" font-size="11" fill="#334155">{escape(name)}</text>')
            lx += 26 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)
