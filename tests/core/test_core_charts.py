"""Inline SVG charts: well-formed, escaped, scaled, tolerant of odd values."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from advisor.charts import bar_chart, grouped_bar_chart

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def bar_widths(svg: str) -> list[float]:
    return [float(r.get("width")) for r in parse(svg).iter(f"{NS}rect")]


def test_bar_chart_is_well_formed_and_proportional():
    svg = bar_chart([("rag", 0.8), ("fine-tuning", 0.4), ("hybrid", 0.2)], title="Scores", min_value=0, max_value=1)
    root = parse(svg)
    assert root.tag == f"{NS}svg"
    widths = bar_widths(svg)
    assert len(widths) == 3
    assert abs(widths[0] / widths[1] - 2.0) < 0.05
    assert "Scores" in svg


def test_bar_chart_escapes_labels():
    svg = bar_chart([("<script>x</script>", 1.0)], title="a & b")
    assert "<script>" not in svg
    parse(svg)


def test_negative_values_extend_left_of_zero():
    svg = grouped_bar_chart(["f1", "f2"], {"rag": [0.5, -0.5], "hybrid": [0.0, 1.0]})
    rects = [r for r in parse(svg).iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    positive, negative = rects[0], rects[2]  # rag in f1 and in f2
    assert float(negative.get("x")) < float(positive.get("x"))
    assert "rag" in svg and "hybrid" in svg  # legend


def test_missing_and_nan_values_are_marked():
    svg = bar_chart([("a", float("nan")), ("b", 1.0)])
    assert "n/a" in svg
    parse(svg)
