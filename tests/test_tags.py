"""The tag grammar (modelreg.core.tags), compatible with GTO (docs/architecture.md#the-tag-grammar).

``name@vX.Y.Z`` registration · ``name@vX.Y.Z!`` deregistration · ``name#stage#N`` assignment ·
``name#stage!#N`` unassignment · ``name@deprecated`` deprecation, and every other form GTO
writes: stage tags without a counter, registrations with one.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelreg.core import tags
from modelreg.core.tags import Action, TagName

# --- every event kind -------------------------------------------------------------------------

EVENTS = [
    # (tag string, what it parses to, how the formatter writes it)
    ("iris-classifier@v1.2.3",
     TagName("iris-classifier", Action.REGISTER, version="1.2.3"),
     lambda: tags.registration("iris-classifier", "1.2.3")),
    ("iris-classifier@v1.2.3!",
     TagName("iris-classifier", Action.DEREGISTER, version="1.2.3"),
     lambda: tags.deregistration("iris-classifier", "1.2.3")),
    ("credit-default#production#7",
     TagName("credit-default", Action.ASSIGN, stage="production", counter=7),
     lambda: tags.assignment("credit-default", "production", 7)),
    ("credit-default#staging!#12",
     TagName("credit-default", Action.UNASSIGN, stage="staging", counter=12),
     lambda: tags.unassignment("credit-default", "staging", 12)),
    ("credit-default@deprecated",
     TagName("credit-default", Action.DEPRECATE),
     lambda: tags.deprecation("credit-default")),
    ("credit-default@deprecated#13",
     TagName("credit-default", Action.DEPRECATE, counter=13),
     lambda: tags.deprecation("credit-default", 13)),
    # the other forms GTO writes
    ("churn#prod", TagName("churn", Action.ASSIGN, stage="prod"),
     lambda: tags.assignment("churn", "prod", None)),
    ("churn#prod!", TagName("churn", Action.UNASSIGN, stage="prod"),
     lambda: tags.unassignment("churn", "prod", None)),
    ("churn@v3.1.1#4", TagName("churn", Action.REGISTER, version="3.1.1", counter=4),
     lambda: tags.registration("churn", "3.1.1", 4)),
    ("churn@v3.1.1!#5", TagName("churn", Action.DEREGISTER, version="3.1.1", counter=5),
     lambda: tags.deregistration("churn", "3.1.1", 5)),
    ("churn#Prod_EU/1#2", TagName("churn", Action.ASSIGN, stage="Prod_EU/1", counter=2),
     lambda: tags.assignment("churn", "Prod_EU/1", 2)),
    ("churn#7#3", TagName("churn", Action.ASSIGN, stage="7", counter=3),
     lambda: tags.assignment("churn", "7", 3)),
]
EVENT_IDS = ["register", "deregister", "assign", "unassign", "deprecate", "deprecate-counter",
             "gto-assign-simple", "gto-unassign-simple", "gto-register-counter",
             "gto-deregister-counter", "gto-stage-name", "gto-stage-digit"]


@pytest.mark.parametrize("tag,parsed,fmt", EVENTS, ids=EVENT_IDS)
def test_parse_reads_each_event_kind(tag: str, parsed: TagName, fmt) -> None:
    assert tags.parse(tag) == parsed


@pytest.mark.parametrize("tag,parsed,fmt", EVENTS, ids=EVENT_IDS)
def test_format_writes_each_event_kind(tag: str, parsed: TagName, fmt) -> None:
    assert fmt() == tag


format_tag = tags.format_tag


@pytest.mark.parametrize("tag", [e[0] for e in EVENTS], ids=EVENT_IDS)
def test_parse_then_format_is_identity(tag: str) -> None:
    assert format_tag(tags.parse(tag)) == tag


def test_deprecation_counter_zero_is_kept() -> None:
    # parse() reads "@deprecated#0" as counter 0, so the formatter must write it back.
    assert tags.parse("iris@deprecated#0").counter == 0
    assert tags.deprecation("iris", 0) == "iris@deprecated#0"


# --- SemVer -----------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [
    "0.0.0", "1.0.0-rc.1", "1.0.0-alpha", "1.0.0-0.3.7", "1.0.0-x.7.z.92", "1.0.0-x-y-z.--",
    "2.3.4+build.7", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85",
    "10.20.30-alpha.1+001", "999999.0.1",
])
def test_semver_with_prerelease_and_build_metadata(version: str) -> None:
    for tag, action in ((f"iris@v{version}", Action.REGISTER),
                        (f"iris@v{version}!", Action.DEREGISTER)):
        parsed = tags.parse(tag)
        assert parsed == TagName("iris", action, version=version)
        assert format_tag(parsed) == tag


# --- not registry tags ------------------------------------------------------------------------

@pytest.mark.parametrize("tag", [
    "v1.0", "v1.0.0", "1.0.0", "release-2026", "latest", "",
    "Iris@v1.0.0", "IRIS#production#1",                         # upper case
    "team/iris@v1.0.0", "../iris@v1.0.0", "iris..x@v1.0.0", "..@v1.0.0",  # path-like names
    "i@v1.0.0", "-iris@v1.0.0", "a" * 64 + "@v1.0.0", "my model@v1.0.0",  # name rules
    "iris#production#", "iris#production#x", "iris#production##1",  # counter
    "iris#production#" + "1" * 19,                              # counter over 18 digits
    "iris#-prod#1", "iris#Prod-#1", "iris#pr od#1", "iris#prod..x#1",  # GTO's stage rule
    "iris#prod!!#1", "iris#prod#1#2", "iris@latest", "iris@greatest",  # shortcuts, not tags
    "iris@v1.0", "iris@v01.2.3", "iris@v1.02.3", "iris@v1.2", "iris@v1.2.3.4",  # bad semver
    "iris@v1.2.3-01", "iris@v1.2.3-", "iris@v1.2.3+", "iris@v1.2.3-a..b",
    "iris@1.2.3", "iris@V1.2.3", "iris@v1.2.3!!", "iris@deprecated!", "iris@deprecated#",
    "iris@v1.2.3 ", " iris@v1.2.3", "iris@v1.2.3\n", "iris#production#3\n", "iris@deprecated\n",
])
def test_non_registry_tags_parse_to_none(tag: str) -> None:
    assert tags.parse(tag) is None


@pytest.mark.parametrize("tag,why", [
    ("Churn@v1.0.0", "'Churn' is not a registry name"),
    ("team/churn#prod#3", "'team/churn' is not a registry name"),
    ("churn_v2@deprecated", "'churn_v2' is not a registry name"),
    ("models/cv=resnet@v1.0.0", "'models/cv:resnet' is not a registry name"),
    ("x#prod", "'x' is not a registry name"),
    ("churn@created", "never writes it"),
    ("churn@created#4", "never writes it"),
    ("churn#prod#" + "9" * 19, "more than 18 digits"),
], ids=["upper-case", "slash", "underscore", "monorepo", "one-letter", "created",
        "created-counter", "long-counter"])
def test_gto_tags_modelreg_does_not_read_are_explained(tag: str, why: str) -> None:
    assert tags.parse(tag) is None
    assert why in tags.unread(tag)


@pytest.mark.parametrize("tag", [e[0] for e in EVENTS] + ["v1.0", "release-2026", "iris@latest",
                                                         "iris#-prod#1", ""])
def test_unread_is_silent_on_read_and_foreign_tags(tag: str) -> None:
    assert tags.unread(tag) is None


def test_name_pattern_refuses_trailing_newline() -> None:
    # The same pattern guards folder names (registry.check_name): "iris\n" is not a name.
    assert tags.NAME_RE.match("iris") and not tags.NAME_RE.match("Iris")
    assert not tags.NAME_RE.match("iris\n")
    assert not tags.SEMVER_RE.match("1.2.3\n")


def test_patterns_select_one_model_or_all() -> None:
    assert tags.patterns() == ["refs/tags/"]
    assert tags.patterns("iris") == ["refs/tags/iris@*", "refs/tags/iris#*"]


# --- evidence in tag messages -----------------------------------------------------------------

EVIDENCE = {
    "pull_request": 42,
    "approvers": ["carol-mro", "dave-mro"],
    "merge_commit": "0123456789abcdef0123456789abcdef01234567",
    "merged_at": "2026-03-01T10:20:30Z",
    "policy": {"digest": "sha256:" + "ab" * 32, "version": "1.0"},
    "decision": "allow",
    "notes": "line one\nline two: with a colon\n",
    "waived": [],
}


def test_evidence_round_trips_through_the_tag_message() -> None:
    message = tags.format_message("Promote credit-default 1.1.0 to production", EVIDENCE)
    assert message.splitlines()[0] == "Promote credit-default 1.1.0 to production"
    assert tags.EVIDENCE_MARKER in message
    assert tags.parse_message(message) == EVIDENCE


def test_title_that_looks_like_yaml_does_not_break_the_evidence() -> None:
    title = "Register iris: 1.0.0 [first] {x}"
    assert tags.parse_message(tags.format_message(title, EVIDENCE)) == EVIDENCE


def test_message_that_is_only_the_evidence_block() -> None:
    message = tags.format_message("t", {"decision": "allow"}).split("\n\n", 1)[1]
    assert message.startswith(tags.EVIDENCE_MARKER)
    assert tags.parse_message(message) == {"decision": "allow"}


def test_empty_evidence_round_trips() -> None:
    assert tags.parse_message(tags.format_message("Deprecate iris", {})) == {}


@pytest.mark.parametrize("message", [
    "Register iris 1.0.0",                                           # no block
    "",
    "Register iris\n\nmodelreg-evidence: [1, 2\n",                   # broken YAML
    "Register iris\n\nmodelreg-evidence: 5\n",                       # not a mapping
    "Register iris\n\nmodelreg-evidence:\n  - a\n  - b\n",            # a list
    "Register iris\n\nmodelreg-evidence:\n  pr: 1\n  pr: 2\n",        # duplicate key
    "Register iris\n\nmodelreg-evidence:\n  pr: 1\n bad: indent\n",
    "Register iris\n\nmodelreg-evidence:\n  pr: !!int forty-two\n",   # tag that cannot apply
    "Register iris\n\nmodelreg-evidence:\n  \xff\x00\n",
    "Register iris\n\nmodelreg-evidence:\n  a: &a [*a]\n",            # recursive alias
], ids=["plain", "empty", "broken", "scalar", "list", "duplicate", "indent", "bad-int-tag",
        "control-char", "recursive"])
def test_malformed_evidence_block_parses_to_empty(message: str) -> None:
    assert tags.parse_message(message) == {}


# --- properties -------------------------------------------------------------------------------

names = st.from_regex(tags.NAME_PATTERN, fullmatch=True)
stages = st.from_regex(tags.STAGE_PATTERN, fullmatch=True)
counters = st.integers(min_value=0, max_value=10**18 - 1)
numeric = st.integers(min_value=0, max_value=10**6).map(str)
alnum_id = st.from_regex(r"[0-9A-Za-z-]*[A-Za-z-][0-9A-Za-z-]*", fullmatch=True)
prerelease = st.lists(numeric | alnum_id, min_size=1, max_size=3).map(".".join)
build = st.lists(st.from_regex(r"[0-9A-Za-z-]+", fullmatch=True), min_size=1,
                 max_size=3).map(".".join)
versions = st.builds(
    lambda core, pre, meta: ".".join(core) + (f"-{pre}" if pre else "") + (f"+{meta}" if meta else ""),
    st.tuples(numeric, numeric, numeric), st.none() | prerelease, st.none() | build)

events = st.one_of(
    st.builds(lambda m, v, n: TagName(m, Action.REGISTER, version=v, counter=n), names, versions,
              st.none() | counters),
    st.builds(lambda m, v, n: TagName(m, Action.DEREGISTER, version=v, counter=n), names,
              versions, st.none() | counters),
    st.builds(lambda m, s, n: TagName(m, Action.ASSIGN, stage=s, counter=n), names, stages,
              st.none() | counters),
    st.builds(lambda m, s, n: TagName(m, Action.UNASSIGN, stage=s, counter=n), names, stages,
              st.none() | counters),
    st.builds(lambda m, n: TagName(m, Action.DEPRECATE, counter=n), names, st.none() | counters),
)


@settings(max_examples=200, deadline=None)
@given(events)
def test_format_then_parse_is_identity(event: TagName) -> None:
    assert tags.parse(format_tag(event)) == event


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_parse_never_raises_on_arbitrary_text(text: str) -> None:
    parsed = tags.parse(text)
    assert parsed is None or isinstance(parsed, TagName)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list("iris-0123456789@#!v.+-") + ["deprecated", "production",
                                                                  "rc", "\n", "/", ".."]),
                max_size=25).map("".join))
def test_parse_never_raises_on_tag_like_text(text: str) -> None:
    parsed = tags.parse(text)
    if parsed is not None:
        # whatever parses names a valid model and says exactly one thing
        assert tags.NAME_RE.fullmatch(parsed.model)
        assert (parsed.version is not None) == (parsed.action in (Action.REGISTER,
                                                                   Action.DEREGISTER))
        assert (parsed.stage is not None) == (parsed.action in (Action.ASSIGN, Action.UNASSIGN))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parse_message_never_raises(text: str) -> None:
    assert isinstance(tags.parse_message(text), dict)
    assert isinstance(tags.parse_message("t\n\n" + tags.EVIDENCE_MARKER + text), dict)
