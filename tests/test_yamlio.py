"""Safe reading and writing of registry documents (modelreg.core.yamlio).

Duplicate keys rejected, aliases limited, size limits, errors as ``file:line: message``
(docs/architecture.md#safe-by-default). Each test shows the gap in plain PyYAML / json where
there is one, so it is clear what yamlio adds.
"""
from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from modelreg.core import yamlio
from modelreg.core.errors import InputError
from modelreg.core.yamlio import Document, decode, dump_yaml, load, locate, parse_json, parse_yaml

NAME = "models/iris-classifier/model.yaml"


def line_of(text: str, marker: str) -> int:
    """1-based line of the only line of ``text`` that contains ``marker``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(hits) == 1, f"marker {marker!r} must occur on exactly one line, found {hits}"
    return hits[0]


def refused(text: str, name: str = NAME) -> InputError:
    with pytest.raises(InputError) as info:
        parse_yaml(text, name)
    return info.value


# --- malformed YAML ---------------------------------------------------------------------------

MALFORMED = {
    "mapping value inside a plain scalar": (
        "name: iris-classifier\ntitle: Iris: a classifier\ntask: tabular-classification\n",
        "title:"),
    "tab used for indentation": (
        "name: iris-classifier\nowner:\n\tteam: ml-platform\n",
        "team:"),
    "list item where a mapping key is expected": (
        "name: iris-classifier\nowner:\n  team: ml-platform\n- stray\n",
        "stray"),
}


@pytest.mark.parametrize("text,marker", MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_yaml_reports_file_and_line(text: str, marker: str) -> None:
    err = refused(text)
    assert err.file == NAME
    assert err.line == line_of(text, marker)
    assert err.message.startswith("invalid YAML")
    assert str(err).startswith(f"{NAME}:{err.line}: ")
    assert err.hint


def test_unterminated_quote_points_at_a_line_of_the_file() -> None:
    # libyaml marks the problem at the end of the stream (a line after the last one) and
    # the start of the quoted scalar as the context; the user needs the latter.
    text = "name: iris-classifier\nsummary: 'never closed\n"
    err = refused(text)
    assert err.line == line_of(text, "summary:")


def test_malformed_yaml_file_loaded_from_disk_names_that_file(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    text = "name: iris-classifier\nrisk:\n  tier: [1\n  eu_ai_act: {class: minimal}\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load(path, display="models/x/model.yaml")
    assert info.value.file == "models/x/model.yaml"
    assert info.value.line is not None and 3 <= info.value.line <= 4


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load(tmp_path / "absent.yaml")
    assert "not found" in info.value.message
    assert info.value.file == str(tmp_path / "absent.yaml")


# --- duplicate keys ---------------------------------------------------------------------------

DUPLICATE_NESTED = """\
name: iris-classifier
risk:
  tier: 3
  eu_ai_act:
    class: minimal
  tier: 1
"""


def test_pyyaml_alone_accepts_duplicate_keys_silently() -> None:
    # The reason yamlio exists: the last value wins and the reviewer never sees the first.
    assert yaml.safe_load(DUPLICATE_NESTED)["risk"]["tier"] == 1


def test_duplicate_key_is_refused_with_both_lines() -> None:
    err = refused(DUPLICATE_NESTED)
    assert "duplicate key 'tier'" in err.message
    assert err.line == line_of(DUPLICATE_NESTED, "tier: 1")
    assert f"first defined on line {line_of(DUPLICATE_NESTED, 'tier: 3')}" in err.message


def test_duplicate_key_inside_list_item_is_refused() -> None:
    text = ("evaluation:\n  thresholds:\n"
            "    - metric: accuracy\n      threshold: 0.9\n      metric: f1\n")
    err = refused(text)
    assert "duplicate key 'metric'" in err.message
    assert err.line == line_of(text, "metric: f1")
    assert f"first defined on line {line_of(text, 'metric: accuracy')}" in err.message


def test_same_key_in_sibling_mappings_is_not_a_duplicate() -> None:
    text = "a:\n  name: x\nb:\n  name: y\n"
    assert parse_yaml(text, NAME) == {"a": {"name": "x"}, "b": {"name": "y"}}


def test_json_duplicate_keys_are_refused() -> None:
    text = '{"name": "iris-classifier",\n "risk": {"tier": 3, "tier": 1}}'
    assert json.loads(text)["risk"]["tier"] == 1   # the json module alone: last one wins
    with pytest.raises(InputError) as info:
        parse_json(text, "report.json")
    assert "duplicate key 'tier'" in info.value.message
    assert info.value.file == "report.json"


# --- aliases ----------------------------------------------------------------------------------

def billion_laughs(levels: int = 9, width: int = 9) -> tuple[str, int]:
    """The classic alias bomb; returns the text and the number of aliases it uses."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n", (levels - 1) * width


def test_billion_laughs_is_refused_quickly_and_in_little_memory() -> None:
    text, aliases = billion_laughs()
    # Few aliases, so it is the expanded-size limit (not the alias count) that must stop it.
    assert aliases <= yamlio.MAX_ALIASES
    tracemalloc.start()
    start = time.perf_counter()
    try:
        err = refused(text)
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert "alias bomb" in err.message
    assert err.file == NAME and err.line is not None
    assert elapsed < 2.0, f"took {elapsed:.2f}s"
    assert peak < 20 * 1024 * 1024, f"peak {peak} bytes"


def test_few_small_aliases_are_allowed() -> None:
    text = "defaults: &d {threshold: 0.9, direction: higher}\na: *d\nb: *d\n"
    data = parse_yaml(text, NAME)
    assert data["a"] == data["b"] == {"threshold": 0.9, "direction": "higher"}


def aliases_text(n: int) -> str:
    return "anchor: &a value\nuses: [" + ", ".join(["*a"] * n) + "]\n"


def test_alias_limit_is_inclusive() -> None:
    data = parse_yaml(aliases_text(yamlio.MAX_ALIASES), NAME)
    assert data["uses"] == ["value"] * yamlio.MAX_ALIASES


def test_more_aliases_than_the_limit_are_refused() -> None:
    text = aliases_text(yamlio.MAX_ALIASES + 1)
    assert len(yaml.safe_load(text)["uses"]) == yamlio.MAX_ALIASES + 1   # PyYAML: no limit
    err = refused(text)
    assert f"more than {yamlio.MAX_ALIASES} YAML aliases" in err.message
    assert err.file == NAME


@pytest.mark.parametrize("text", [
    "loop: &a [1, *a]\n",
    "loop: &a {self: *a}\n",
    "outer: &o\n  inner: &i\n    back: *o\n",
], ids=["sequence", "mapping", "two-levels"])
def test_recursive_alias_is_refused(text: str) -> None:
    err = refused(text)
    assert "recursive YAML alias" in err.message
    assert err.line == 1


# --- size, encoding, depth --------------------------------------------------------------------

def test_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path, monkeypatch) -> None:
    def must_not_parse(*_args, **_kwargs):
        raise AssertionError("an oversized file was parsed")

    monkeypatch.setattr(yamlio, "parse_yaml", must_not_parse)
    monkeypatch.setattr(yamlio, "parse_json", must_not_parse)
    big = tmp_path / "model.yaml"
    big.write_bytes(b"a: 1\n" + b"#" * yamlio.MAX_BYTES)
    with pytest.raises(InputError) as info:
        load(big, display="models/big/model.yaml")
    assert info.value.file == "models/big/model.yaml"
    assert f"{big.stat().st_size} bytes" in info.value.message
    assert str(yamlio.MAX_BYTES) in info.value.message


def test_size_limit_is_a_parameter_and_inclusive(tmp_path: Path) -> None:
    path = tmp_path / "stages.yaml"
    path.write_text("stages: {production: 1.0.0}\n", encoding="utf-8")
    size = path.stat().st_size
    assert load(path, max_bytes=size).data == {"stages": {"production": "1.0.0"}}
    with pytest.raises(InputError, match="limit"):
        load(path, max_bytes=size - 1)


def test_non_utf8_bytes_are_refused_with_their_line() -> None:
    raw = b"name: iris\ntitle: ok\n" + "owner: Jos\u00e9\n".encode("latin-1")
    with pytest.raises(InputError) as info:
        decode(raw, NAME)
    assert info.value.file == NAME
    assert info.value.line == 3
    assert "UTF-8" in info.value.message


def test_non_utf8_file_is_refused_by_load(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_bytes(b"name: iris\n\xff\xfe: x\n")
    with pytest.raises(InputError) as info:
        load(path)
    assert info.value.line == 2


def test_utf8_text_is_decoded() -> None:
    assert decode("owner: Jos\u00e9\n".encode(), NAME) == "owner: Jos\u00e9\n"


def nested_yaml_sequences(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_yaml_mappings(depth: int) -> str:
    return "".join(f"{'  ' * i}k:\n" for i in range(depth)) + f"{'  ' * depth}leaf\n"


def nested_json(depth: int) -> str:
    return '{"k": ' * depth + "1" + "}" * depth


def test_moderate_nesting_is_accepted() -> None:
    assert parse_yaml(nested_yaml_sequences(20), NAME) is not None
    assert parse_yaml(nested_yaml_mappings(20), NAME) is not None
    assert parse_json(nested_json(20), "a.json") is not None


@pytest.mark.parametrize("make", [nested_yaml_sequences, nested_yaml_mappings],
                         ids=["flow-sequences", "block-mappings"])
def test_yaml_nesting_deeper_than_the_limit_is_refused(make) -> None:
    text = make(yamlio.MAX_DEPTH + 2)
    assert yaml.safe_load(text) is not None    # libyaml alone accepts this depth
    err = refused(text)
    assert "nesting deeper" in err.message


def test_json_nesting_deeper_than_the_limit_is_refused() -> None:
    text = nested_json(yamlio.MAX_DEPTH + 2)
    with pytest.raises(InputError) as info:
        parse_json(text, "report.json")
    assert "nest" in info.value.message


def test_json_nesting_far_deeper_than_the_limit_is_refused() -> None:
    with pytest.raises(InputError):
        parse_json("[" * 100_000 + "]" * 100_000, "report.json")


# --- value types ------------------------------------------------------------------------------

def test_timestamps_stay_strings() -> None:
    text = "created_at: 2026-03-01T10:20:30Z\nvalidated_at: 2026-03-02\nspaced: 2026-03-01 10:20:30\n"
    assert not isinstance(yaml.safe_load(text)["created_at"], str)   # PyYAML: a datetime
    data = parse_yaml(text, NAME)
    assert data == {"created_at": "2026-03-01T10:20:30Z", "validated_at": "2026-03-02",
                    "spaced": "2026-03-01 10:20:30"}


def test_other_scalars_keep_their_yaml_types() -> None:
    data = parse_yaml("tier: 3\nthreshold: 0.9\nok: true\nnothing: null\nversion: 1.0\n", NAME)
    assert data == {"tier": 3, "threshold": 0.9, "ok": True, "nothing": None, "version": 1.0}
    assert isinstance(data["version"], float)


@pytest.mark.parametrize("text,line", [
    ("1: one\n", 1), ("~: nothing\n", 1), ("true: yes\n", 1), ("1.5: x\n", 1),
    ("? [a, b]\n: c\n", 1), ("name: x\nnested:\n  2: two\n", 3),
], ids=["int", "null", "bool", "float", "sequence", "nested-int"])
def test_non_string_mapping_keys_are_refused(text: str, line: int) -> None:
    err = refused(text)
    assert "mapping keys must be strings" in err.message
    assert err.line == line


@pytest.mark.parametrize("text", ["base:\n  <<: {1: one}\n", "base:\n  <<: {a: 1, a: 2}\n",
                                  "a: &x {k: 1}\nb:\n  <<: *x\n  k: 2\n"])
def test_merge_keys_are_refused(text: str) -> None:
    # `<<` merges pull keys in after the key checks (types, duplicates): not allowed at all.
    err = refused(text)
    assert "merge keys (<<) are not allowed" in err.message
    assert err.line == text.splitlines().index(next(x for x in text.splitlines() if "<<" in x)) + 1


@pytest.mark.parametrize("text", [
    "tier: !!int three\n",
    "threshold: !!float high\n",
    "ok: !!bool maybe\n",
    "created_at: !!timestamp yesterday\n",
    "size: " + "9" * 5000 + "\n",
], ids=["int-tag", "float-tag", "bool-tag", "timestamp-tag", "int-over-4300-digits"])
def test_scalars_that_cannot_be_constructed_are_input_errors(text: str) -> None:
    err = refused(text)
    assert err.file == NAME


def test_multiple_documents_are_refused() -> None:
    err = refused("name: a\n---\nname: b\n")
    assert err.line == 2


def test_empty_document_is_none() -> None:
    assert parse_yaml("# only a comment\n", NAME) is None


# --- locate -----------------------------------------------------------------------------------

LOCATE_TEXT = """\
# iris model record
name: iris-classifier
owner:
  team: ml-platform
evaluation:
  thresholds:
    - metric: accuracy
      threshold: 0.9
    - metric: f1_macro
      threshold: 0.88
  sensitive_attributes: [age_band,
    sex]
"""


@pytest.fixture
def located() -> Document:
    return Document(NAME, LOCATE_TEXT, parse_yaml(LOCATE_TEXT, NAME))


@pytest.mark.parametrize("path,marker", [
    (["name"], "name:"),
    (["owner", "team"], "team:"),
    (["evaluation", "thresholds"], "thresholds:"),
    (["evaluation", "thresholds", 0], "metric: accuracy"),
    (["evaluation", "thresholds", 1], "metric: f1_macro"),
    (["evaluation", "thresholds", 1, "threshold"], "0.88"),
    (["evaluation", "sensitive_attributes", 1], "sex]"),
])
def test_locate_finds_nested_paths(located: Document, path, marker: str) -> None:
    assert locate(located, path) == line_of(LOCATE_TEXT, marker)


@pytest.mark.parametrize("path,marker", [
    (["owner", "business_owner"], "owner:"),
    (["evaluation", "thresholds", 5], "thresholds:"),
    (["evaluation", "thresholds", 1, "direction"], "metric: f1_macro"),
    (["owner", "team", "deeper"], "team:"),
    (["missing"], "name:"),
])
def test_locate_returns_closest_parent_for_missing_path(located: Document, path, marker) -> None:
    assert locate(located, path) == line_of(LOCATE_TEXT, marker)


def test_locate_root_is_the_first_content_line(located: Document) -> None:
    assert locate(located, []) == line_of(LOCATE_TEXT, "name:")


def test_locate_knows_no_lines_in_json() -> None:
    doc = Document("report.json", '{\n "a": 1\n}', {"a": 1})
    assert locate(doc, ["a"]) is None


# --- dumping ----------------------------------------------------------------------------------

ROUND_TRIP = {
    "model": "iris-classifier",
    "version": "1.0",                      # a string that looks like a float
    "created_at": "2026-03-01T10:20:30Z",   # looks like a timestamp
    "date": "2026-03-02",
    "flags": ["yes", "no", "on", "off", "null", "~", "true", "007", "0x1F", "1e3"],
    "numbers": [0, -1, 3.5, 1e-09, 10**20],
    "nothing": None,
    "ok": False,
    "multiline": "first line\nsecond: line\n",
    "unicode": "Jos\u00e9 \u2014 \u00fcber",
    "quotes": "it's \"quoted\" # not a comment",
    "empty": {"list": [], "map": {}, "text": ""},
    "nested": [{"metric": "auc", "slice": "age_band=18-25", "threshold": 0.7}],
}


def test_dump_yaml_round_trips_through_parse_yaml() -> None:
    assert parse_yaml(dump_yaml(ROUND_TRIP), NAME) == ROUND_TRIP


def test_dump_yaml_keeps_key_order() -> None:
    data = {"zeta": 1, "alpha": 2, "mid": 3}
    assert list(parse_yaml(dump_yaml(data), NAME)) == ["zeta", "alpha", "mid"]
    assert dump_yaml(data).splitlines()[0] == "zeta: 1"


def test_dump_yaml_writes_no_anchors_for_shared_values() -> None:
    shared = {"threshold": 0.9, "direction": "higher"}
    out = dump_yaml({"a": shared, "b": shared})
    assert "&" not in out and "*" not in out
    assert parse_yaml(out, NAME) == {"a": shared, "b": shared}


def test_dump_yaml_keeps_key_order_and_block_style() -> None:
    # records are written in the order they are built, in block style people can review
    assert dump_yaml({"tags": ["a", "b"], "name": "x"}) == "tags:\n- a\n- b\nname: x\n"


def test_real_model_record_round_trips() -> None:
    root = Path(__file__).resolve().parents[1]
    doc = load(root / "models" / "credit-default" / "model.yaml")
    assert parse_yaml(dump_yaml(doc.data), NAME) == doc.data


json_scalars = (st.none() | st.booleans() | st.integers(-10**15, 10**15)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_dump_yaml_round_trips_any_json_data(data) -> None:
    assert parse_yaml(dump_yaml(data), NAME) == data


# --- never any other exception ----------------------------------------------------------------

def returns_or_input_error(fn, *args):
    try:
        fn(*args)
    except InputError as exc:
        assert exc.file == args[-1]


# Fragments that make random text look like YAML, so the property reaches the constructors.
YAML_PIECES = st.sampled_from([
    "a", "b", ": ", ":", "- ", "\n", "  ", "\t", "{", "}", "[", "]", ", ", "? ", "&x ", "*x",
    "<<: ", "!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!str ", "!!binary ", "!!set ",
    "!!omap ", "!!python/name:os.system ", "1", "0x", "1.0", "2026-01-01", "~", "null", "yes",
    "'", '"', "#", "|", ">", "---", "...", "%YAML 1.1\n", "\\", "\u00e9", "\x00", "9" * 5000,
])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parse_yaml_on_arbitrary_text_returns_or_raises_input_error(text: str) -> None:
    returns_or_input_error(parse_yaml, text, NAME)


@settings(max_examples=200, deadline=None)
@given(st.lists(YAML_PIECES, max_size=30).map("".join))
def test_parse_yaml_on_yaml_like_text_returns_or_raises_input_error(text: str) -> None:
    returns_or_input_error(parse_yaml, text, NAME)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.lists(st.sampled_from(
    ['{', '}', '[', ']', '"a"', ':', ',', '1', '-', 'e', '.', 'null', 'NaN', '"\\u', '9' * 5000,
     ' ', '\n']), max_size=30).map("".join))
def test_parse_json_on_arbitrary_text_returns_or_raises_input_error(text: str) -> None:
    returns_or_input_error(parse_json, text, "report.json")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_decode_on_arbitrary_bytes_returns_or_raises_input_error(raw: bytes) -> None:
    try:
        text = decode(raw, NAME)
    except InputError as exc:
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert exc.line is not None and 1 <= exc.line <= raw.count(b"\n") + 1
    else:
        assert text.encode("utf-8") == raw


# --- the fast path (libyaml's events straight to data) agrees with the full one ------------
def _full(text: str):
    loader = yamlio._Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else yamlio._construct(loader, node, {})
    finally:
        loader.dispose()


_SCALARS = ["1", "-0", "0o17", "017", "0x1F", "0b101", "1_000", "190:20:30", "1.5", "-.inf",
            ".NaN", "6.8523015e+5", "1e3", "yes", "No", "on", "OFF", "true", "~", "null", "",
            "'1'", '"true"', "2026-11-30", "2026-11-30T12:00:00Z", "a: b", "x #c", "'a''b'",
            '"\\u00e9\\n"', "|\n  block\n", ">\n  folded\n", "[1, a, ~]", "{a: 1, b: [x]}"]


@pytest.mark.parametrize("value", _SCALARS)
def test_the_fast_path_builds_what_the_full_path_builds(value: str) -> None:
    text = f"key: {value}\nlist:\n  - {value}\nnested:\n  deeper: {{x: [{value.strip()}]}}\n" \
        if "\n" not in value else f"key: {value}"
    try:
        expected = _full(text)
    except yaml.YAMLError:
        with pytest.raises(Exception):  # noqa: B017,PT011 - whatever it is, the full path decides
            yamlio._parse_fast(text)
        return
    got = yamlio._parse_fast(text)
    assert got == expected and repr(got) == repr(expected)


@pytest.mark.parametrize("text", [
    "a: 1\na: 2\n",                       # a duplicate key
    "a: &x 1\nb: *x\n",                   # an anchor and an alias
    "a: !!str 1\n",                       # an explicit tag
    "<<: {a: 1}\n",                       # a merge key
    "1: a\n",                             # a key that is not a string
    "? [a]\n: b\n",                       # a key that is a list
    "a: 1\n---\nb: 2\n",                  # two documents
    "a: [" * 70 + "]" * 70 + "\n",        # nesting past the limit
])
def test_the_fast_path_leaves_every_unusual_document_to_the_full_path(text: str) -> None:
    with pytest.raises(Exception):  # noqa: B017,PT011 - _Unusual or the parser's own error
        yamlio._parse_fast(text)
