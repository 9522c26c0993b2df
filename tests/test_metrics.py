"""A metric against its threshold, compared one way: `show`, `card`, `audit` and `site`
all say "met" for the same metrics."""
from __future__ import annotations

import re

import pytest

from conftest import PROJECT
from modelreg.core.metrics import meets_threshold, threshold_sign, value_meets


@pytest.mark.parametrize("value, threshold, direction, expected", [
    (0.9, 0.8, "higher", True), (0.8, 0.8, "higher", True), (0.7, 0.8, "higher", False),
    (0.1, 0.2, "lower", True), (0.2, 0.2, "lower", True), (0.3, 0.2, "lower", False),
    (0.9, 0.8, None, True), (0.7, 0.8, None, False),           # no direction: higher
    (None, 0.8, "higher", None), (0.9, None, "higher", None), ("0.9", 0.8, "higher", None),
    (True, 0.5, "higher", None),
])
def test_value_meets(value, threshold, direction, expected):
    assert value_meets(value, threshold, direction) is expected
    metric = {"value": value, "threshold": threshold, "direction": direction}
    assert meets_threshold(metric) is expected


def test_threshold_sign():
    assert (threshold_sign("higher"), threshold_sign("lower"), threshold_sign(None)) == \
        ("≥", "≤", "≥")


def test_thresholds_are_compared_in_one_place():
    home = PROJECT / "tools/modelreg/core/metrics.py"
    pattern = re.compile(r"\s[<>]=?\s+\S*threshold|threshold\S*\s+[<>]=?\s|"
                         r"direction\S* == .lower.")
    elsewhere = [f"{p.relative_to(PROJECT)}:{n}"
                 for p in sorted((PROJECT / "tools/modelreg").rglob("*.py")) if p != home
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line)]
    assert elsewhere == [], "use modelreg.core.metrics"
