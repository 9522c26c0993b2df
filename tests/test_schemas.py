"""The schemas in ``schemas/`` against a corpus of example files (tests/data/schemas).

The corpus doubles as documentation: ``<kind>/valid/`` holds records the registry accepts and
``<kind>/invalid/`` one common mistake per file. A YAML example states the error it must
produce in its first line, ``# expect: <part of the message>``; a JSON example (JSON has no
comments) in a sibling ``<name>.expect`` file.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from modelreg.core.yamlio import load
from modelreg.store.schemas import KINDS, Schemas

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "data" / "schemas"
SCHEMA_DIR = ROOT / "schemas"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
DOCUMENTED_KINDS = ("model", "version", "stages", "finding")
EXPECT = "# expect: "
# At least this many (valid, invalid) examples per kind.
MINIMUM = {"model": (4, 8), "version": (4, 8), "stages": (3, 4), "finding": (3, 5),
           "monitoring": (3, 5),
           "report": (2, 4)}


def examples(kind: str, outcome: str) -> list[Path]:
    ext = "json" if kind == "report" else "yaml"
    return sorted((CORPUS / kind / outcome).glob(f"*.{ext}"))


def cases(outcome: str) -> list[Any]:
    return [pytest.param(kind, path, id=f"{kind}/{path.name}")
            for kind in KINDS for path in examples(kind, outcome)]


def expectation(path: Path) -> str:
    if path.suffix == ".json":
        text = path.with_suffix(".expect").read_text(encoding="utf-8").strip()
    else:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(EXPECT), f"{path.name}: first line must be '{EXPECT}...'"
        text = first[len(EXPECT):].strip()
    assert text, f"{path.name}: empty expectation"
    return text


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas(ROOT)


def test_the_corpus_covers_every_kind() -> None:
    assert set(KINDS) == {"model", "version", "stages", "finding", "monitoring", "report"}
    for kind, (valid, invalid) in MINIMUM.items():
        assert len(examples(kind, "valid")) >= valid, kind
        assert len(examples(kind, "invalid")) >= invalid, kind


def test_every_json_example_has_its_expectation() -> None:
    for path in examples("report", "invalid"):
        assert path.with_suffix(".expect").is_file(), path.name
    strays = {p.stem for p in (CORPUS / "report" / "invalid").glob("*.expect")}
    assert strays == {p.stem for p in examples("report", "invalid")}


@pytest.mark.parametrize("kind,path", cases("valid"))
def test_valid_example_has_no_errors(schemas: Schemas, kind: str, path: Path) -> None:
    doc = load(path)
    assert schemas.errors(kind, doc.data) == []


@pytest.mark.parametrize("kind,path", cases("invalid"))
def test_invalid_example_gives_the_expected_error(schemas: Schemas, kind: str, path: Path) -> None:
    expected = expectation(path)
    doc = load(path)
    errors = schemas.errors(kind, doc.data)
    messages = [message for _, message in errors]
    assert messages, f"{path.name} was accepted"
    assert any(expected in m for m in messages), f"{expected!r} not in {messages}"


@pytest.mark.parametrize("kind,path", cases("invalid"))
def test_invalid_example_shows_exactly_one_mistake(schemas: Schemas, kind: str, path: Path) -> None:
    errors = schemas.errors(kind, load(path).data)
    assert len(errors) == 1, f"{path.name}: {errors}"


def test_errors_name_the_path_of_the_offending_value(schemas: Schemas) -> None:
    doc = load(CORPUS / "model" / "invalid" / "tier-4.yaml")
    assert schemas.errors("model", doc.data) == [
        (["risk", "tier"], "$.risk.tier: 4 is greater than the maximum of 3")]


# --- the schemas themselves -------------------------------------------------------------------

def schema_files() -> list[Path]:
    return sorted(SCHEMA_DIR.glob("*.schema.json"))


def read_schema(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))


def test_there_is_a_schema_for_every_kind() -> None:
    assert {p.name.removesuffix(".schema.json") for p in schema_files()} >= set(KINDS)


@pytest.mark.parametrize("path", schema_files(), ids=lambda p: p.name)
def test_schema_is_valid_draft_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == DRAFT_2020_12
    Draft202012Validator.check_schema(schema)


def test_check_schema_catches_a_broken_schema() -> None:
    # Proves the check above can fail: a misspelt type is not a valid schema.
    broken = read_schema("stages")
    broken["properties"]["deprecated"]["type"] = "bool"
    with pytest.raises(SchemaError):
        Draft202012Validator.check_schema(broken)


# Keywords whose subschemas declare what a document may contain. ``if``/``not`` are left out on
# purpose: their ``properties`` are conditions (e.g. class == high), not fields users write.
_SCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "then", "else", "contains", "propertyNames")


def undocumented(schema: Any, where: str = "$") -> Iterator[str]:
    """JSON-pointer-ish locations of properties without a non-empty ``description``."""
    if not isinstance(schema, dict):
        return
    for name, sub in schema.get("properties", {}).items():
        if not (isinstance(sub, dict) and str(sub.get("description", "")).strip()):
            yield f"{where}.properties.{name}"
    for key in _SCHEMA_MAPS:
        for name, sub in schema.get(key, {}).items():
            yield from undocumented(sub, f"{where}.{key}.{name}")
    for key in _SCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key, [])):
            yield from undocumented(sub, f"{where}.{key}[{i}]")
    for key in _SCHEMA_ONE:
        yield from undocumented(schema.get(key), f"{where}.{key}")


@pytest.mark.parametrize("kind", DOCUMENTED_KINDS)
def test_every_property_has_a_description(kind: str) -> None:
    assert list(undocumented(read_schema(kind))) == []


def test_the_description_walk_reaches_nested_properties() -> None:
    # Proves the walk above can fail: remove descriptions at the deepest places.
    version = read_schema("version")
    ci = version["properties"]["metrics"]["items"]["properties"]["ci"]
    del ci["properties"]["level"]["description"]
    stages = read_schema("stages")
    long_form = stages["properties"]["stages"]["additionalProperties"]["oneOf"][2]
    long_form["properties"]["reason"]["description"] = " "
    model = read_schema("model")
    del model["$defs"]["name"]["description"]           # a $defs entry is not a property
    del model["properties"]["risk"]["properties"]["eu_ai_act"]["properties"]["class"]["description"]
    assert list(undocumented(version)) == [
        "$.properties.metrics.items.properties.ci.properties.level"]
    assert list(undocumented(stages)) == [
        "$.properties.stages.additionalProperties.oneOf[2].properties.reason"]
    assert list(undocumented(model)) == [
        "$.properties.risk.properties.eu_ai_act.properties.class"]


@pytest.mark.parametrize("kind, path", cases("valid") + cases("invalid"))
def test_fast_validator_agrees_with_jsonschema(kind: str, path: Path) -> None:
    # Schemas.errors asks jsonschema-rs "valid?" first and jsonschema only for the messages:
    # the two must agree on every example, or a fast "valid" could hide a violation.
    import jsonschema_rs

    schema = json.loads((ROOT / "schemas" / f"{kind}.schema.json").read_text())
    data = load(path).data
    assert jsonschema_rs.validator_for(schema).is_valid(data) == \
        Draft202012Validator(schema).is_valid(data)
