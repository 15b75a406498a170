"""A small self-contained SVG line chart of a training run's loss curve (no plotting library needed)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

_W, _H, _PAD = 560, 300, 48


def _path(points: Sequence[tuple[float, float]], sx, sy) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y) in enumerate(points))


def loss_svg(history: Sequence[dict[str, Any]], title: str = "LoRA training loss") -> str:
    """Train loss per step (line) and validation loss at each evaluation (line with dots), as inline SVG."""
    train = [(h["step"], h["train_loss"]) for h in history if h.get("train_loss") is not None]
    val = [(h["step"], h["val_loss"]) for h in history if h.get("val_loss") is not None]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
             'font-family="sans-serif" font-size="11">',
             f"<title>{escape(title)}</title>",
             f'<text x="{_W / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>']
    if not train:
        parts.append(f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">no training steps</text></svg>')
        return "\n".join(parts) + "\n"
    xs = [p[0] for p in train + val]
    ys = [p[1] for p in train + val]
    x0, x1 = min(xs), max(xs)
    y0, y1 = 0.0, max(ys) * 1.05 or 1.0
    x1 = x1 if x1 > x0 else x0 + 1

    def sx(x: float) -> float:
        return _PAD + (x - x0) / (x1 - x0) * (_W - 2 * _PAD)

    def sy(y: float) -> float:
        return _H - _PAD - (y - y0) / (y1 - y0) * (_H - 2 * _PAD)

    parts.append(f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#333"/>')
    parts.append(f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#333"/>')
    for i in range(5):
        y = y0 + (y1 - y0) * i / 4
        parts.append(f'<text x="{_PAD - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
        parts.append(f'<line x1="{_PAD}" y1="{sy(y):.1f}" x2="{_W - _PAD}" y2="{sy(y):.1f}" stroke="#ddd"/>')
    for x in (x0, (x0 + x1) / 2, x1):
        parts.append(f'<text x="{sx(x):.1f}" y="{_H - _PAD + 16}" text-anchor="middle">{x:.0f}</text>')
    parts.append(f'<text x="{_W / 2}" y="{_H - 10}" text-anchor="middle">step</text>')
    parts.append(f'<path d="{_path(train, sx, sy)}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
    if val:
        parts.append(f'<path d="{_path(val, sx, sy)}" fill="none" stroke="#d62728" stroke-width="2"/>')
        parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="#d62728"/>' for x, y in val]
    parts.append(f'<text x="{_W - _PAD}" y="{_PAD - 8}" text-anchor="end" fill="#1f77b4">train</text>')
    parts.append(f'<text x="{_W - _PAD - 50}" y="{_PAD - 8}" text-anchor="end" fill="#d62728">validation</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
