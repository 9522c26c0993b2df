"""One way to name a place: `file:line` (or `file`) in messages, reports and annotations."""
from __future__ import annotations

import re

from conftest import PROJECT
from modelreg.core.errors import InputError, location
from modelreg.core.records import Finding


def test_location():
    assert location("models/a/model.yaml", 3) == "models/a/model.yaml:3"
    assert location("models/a/model.yaml", None) == "models/a/model.yaml"
    assert location(None, 3) == ""


def test_finding_and_error_name_their_place_the_same_way():
    f = Finding("models/a/model.yaml", "ID-01", "owner is required", line=3)
    assert f.where == "models/a/model.yaml:3"
    assert str(f) == "models/a/model.yaml:3: [ID-01] owner is required"
    w = Finding("models/a/card.md", "CARD-02", "thin", severity="warning")
    assert str(w) == "models/a/card.md: [CARD-02] warning: thin"
    assert str(InputError("bad", file="models/a/model.yaml", line=3)) == \
        "models/a/model.yaml:3: bad"
    assert str(InputError("bad")) == "bad"


def test_file_line_is_formatted_in_one_place():
    home = PROJECT / "tools/modelreg/core/errors.py"
    pattern = re.compile(r"\{[^{}]*file[^{}]*\}:\{[^{}]*line[^{}]*\}|\{PATH\}:\{line\}")
    elsewhere = [f"{p.relative_to(PROJECT)}:{n}"
                 for p in sorted((PROJECT / "tools/modelreg").rglob("*.py")) if p != home
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line)]
    templates = [p.name for p in (PROJECT / "tools/modelreg/templates").glob("*.j2")
                 if '":" ~ f.line' in p.read_text(encoding="utf-8")]
    assert elsewhere == [] and templates == [], "use modelreg.core.errors.location"
