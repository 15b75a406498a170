"""Inline SVG charts without dependencies: horizontal bar charts (also grouped, also negative).

Every function returns a complete `<svg>` element as a string, with all text escaped, ready to be embedded in
an HTML page (mark it safe in Jinja2). An arm's bars take the colour its record names (`arms.Arm.colour`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#dc2626", "#0891b2", "#64748b")
BASELINE_COLOUR = "#64748b"  # the untouched model's bars (the report keys them "baseline")
_FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


def _fmt(value: float, fmt: str) -> str:
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return str(value)


def approach_colours() -> dict[str, str]:
    """Each arm's colour, from its record (`arms.Arm.colour`), and the untouched model's."""
    from advisor.backends import arms

    return {**arms.colours(), "baseline": BASELINE_COLOUR}


def _colour(name: str, index: int) -> str:
    """The approach's own colour, else the palette's colour for this position."""
    return approach_colours().get(name, PALETTE[index % len(PALETTE)])


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
