"""Hostile input: fuzzed loaders and parsers raise only the project's own errors; hostile
paths, oversized files, deep nesting and forged tags never crash the tool or pass a gate.

Every property counts its inputs in TRIED; the last test checks the totals (the figures in
docs/reliability.md come from this suite)."""
from __future__ import annotations

import collections
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_weights
from modelreg.core import tags
from modelreg.core.errors import ModelregError
from modelreg.core.yamlio import parse_json, parse_yaml
from modelreg.store import codeowners, credentials
from modelreg.store.dvc import read_pointer

TRIED: collections.Counter = collections.Counter()
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

yaml_alphabet = st.sampled_from(list("ab:- \n\t[]{},&*!|>'\"#%@`?0123456789.\\") + ["<<", "---",
                                                                                   "\u2028"])
yamlish = st.lists(yaml_alphabet, max_size=200).map("".join)


def _only_own_errors(fn, *args) -> None:
    try:
        fn(*args)
    except ModelregError:
        pass


@FUZZ
@given(st.one_of(st.text(max_size=300), yamlish))
def test_fuzz_yaml_loader(text):
    TRIED["yaml"] += 1
    _only_own_errors(parse_yaml, text, "fuzz.yaml")


@FUZZ
@given(st.one_of(st.text(max_size=300),
                 st.lists(st.sampled_from(list('{}[]:,"0123456789.eE+-truefalsn \\u')),
                          max_size=200).map("".join)))
def test_fuzz_json_loader(text):
    TRIED["json"] += 1
    _only_own_errors(parse_json, text, "fuzz.json")


@FUZZ
@given(st.one_of(st.text(max_size=120),
                 st.lists(st.sampled_from(list("abzAZ09-_/=@#!v.+") + [
                     "deprecated", "created", "@v1.2.3", "@v1.2.3-rc.1+b", "#prod#", "#staging!#",
                     "#prod", "#Prod_EU/1", "!#", "#" + "9" * 19]),
                          max_size=20).map("".join)))
def test_fuzz_tag_parser(name):
    TRIED["tag"] += 1
    parsed = tags.parse(name)
    why = tags.unread(name)
    if parsed is not None:                     # what it accepts, it can format back
        assert tags.NAME_RE.match(parsed.model)
        assert tags.parse(tags.format_tag(parsed)) == parsed
        assert why is None                     # read, or explained: never both
    elif why is not None:
        assert isinstance(why, str) and why
    tags.parse_message(name)
    tags.evidence_field(name, "version")


_counter = st.none() | st.integers(min_value=0, max_value=10**18 - 1)
_stage = st.from_regex(tags.STAGE_PATTERN, fullmatch=True)
_name = st.from_regex(tags.NAME_PATTERN, fullmatch=True)
_version = st.sampled_from(["0.0.0", "1.2.3", "10.0.0-rc.1", "1.0.0+build.7", "2.0.0-0.a-b+x"])


@FUZZ
@given(st.one_of(
    st.builds(lambda m, v, n: tags.TagName(m, tags.Action.REGISTER, version=v, counter=n),
              _name, _version, _counter),
    st.builds(lambda m, v, n: tags.TagName(m, tags.Action.DEREGISTER, version=v, counter=n),
              _name, _version, _counter),
    st.builds(lambda m, s, n: tags.TagName(m, tags.Action.ASSIGN, stage=s, counter=n),
              _name, _stage, _counter),
    st.builds(lambda m, s, n: tags.TagName(m, tags.Action.UNASSIGN, stage=s, counter=n),
              _name, _stage, _counter),
    st.builds(lambda m, n: tags.TagName(m, tags.Action.DEPRECATE, counter=n), _name, _counter)))
def test_fuzz_every_tag_form_round_trips(event):
    """format -> parse is the identity for every form GTO writes (counted or not)."""
    TRIED["tag"] += 1
    name = tags.format_tag(event)
    assert tags.parse(name) == event
    assert tags.unread(name) is None


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=60),
                          st.sampled_from(["/models/ @org/team", "* @a", "!x @b", "[ab] @c",
                                           "docs/** x@y.z", "# comment", "\\#x @d", "/a/ @"])),
                max_size=15).map("\n".join),
       st.text(min_size=1, max_size=40))
def test_fuzz_codeowners_parser_and_checker(text, path):
    TRIED["codeowners"] += 1
    codeowners.problems(text)
    try:
        codeowners.owners_of(text, path.lstrip("/") or "x")
    except ModelregError:
        pass


@FUZZ
@given(st.one_of(st.binary(max_size=400), yamlish.map(str.encode),
                 st.builds(lambda md5, size, path: (
                     f"outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n  path: {path}\n"
                 ).encode(), st.text("0123456789abcdef", min_size=30, max_size=34),
                     st.integers(-5, 10**20), st.text(max_size=20))))
def test_fuzz_dvc_pointer_parser(tmp_path_factory, data):
    TRIED["dvc-pointer"] += 1
    path = tmp_path_factory.getbasetemp() / "fuzz.dvc"
    path.write_bytes(data)
    try:
        pointers = read_pointer(path)
    except ModelregError:
        return
    for p in pointers:                           # accepted pointers are safe to follow
        assert "/" not in p.path and p.path not in (".", "..")


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_secret_detector(text):
    TRIED["secrets"] += 1
    for leak in credentials.find(text):
        assert leak.line >= 1


# --- deep nesting, oversized files, hostile paths -------------------------------------------
@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "a:\n" + "".join(
    " " * i + "b:\n" for i in range(1, 300)), "&a [*a, *a]", "- " * 3000 + "x"])
def test_deep_nesting_and_alias_tricks_are_input_errors(text):
    TRIED["nesting"] += 1
    _only_own_errors(parse_yaml, text, "deep.yaml")
    _only_own_errors(parse_json, text, "deep.json")


def test_oversized_and_special_files_are_refused(repo, tmp_path, run_cli):
    big = tmp_path / "metrics.json"
    big.write_text("[" + ",".join(['{"name": "a", "value": 1}'] * 60_000) + "]")
    w = write_weights(tmp_path / "out")
    before = repo.snapshot()
    for metrics in (str(big), "/dev/zero", str(tmp_path)):
        TRIED["oversized"] += 1
        res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0",
                      "--weights", str(w), "--metrics", metrics,
                      "--dataset", "test:iris-test@2026.11")
        assert res.code in (1, 2), res.err
        assert "Traceback" not in res.err
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0",
                  "--weights", str(w), "--config", str(fifo),
                  "--dataset", "test:iris-test@2026.11")
    assert res.code in (1, 2) and "not a regular file" in res.err
    assert repo.snapshot() == before


def test_hostile_paths_are_refused_or_stay_inside(repo, tmp_path, run_cli):
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret\n")
    w = write_weights(tmp_path / "out")
    link = tmp_path / "out" / "link.safetensors"
    link.symlink_to(w)
    before = repo.snapshot()
    cases = [
        ["--weights", str(link)],                                    # symlinked weights
        ["--weights", str(tmp_path / "out" / ".." / "out" / "nope.bin")],
        ["--weights", str(tmp_path / "out")],                        # a folder
        ["--weights", str(w), "--dataset", "test:x-data@1:/dev/zero"],
        ["--weights", str(w), "--dataset", "test:x-data@1:../../nope.csv"],
        ["--weights", str(w), "--from", str(outside)],               # model exists: refused
        ["--weights", str(w), "--parent", "../../etc@1.0.0"],
    ]
    for extra in cases:
        TRIED["paths"] += 1
        res = run_cli(repo.root, "register", "iris-classifier", "--version", "1.0.0", *extra)
        assert res.code in (1, 2), (extra, res.err)
        assert "Traceback" not in res.err
    for name in ("../evil", "/abs", "a/../../b", "..", "x" * 70):
        TRIED["paths"] += 1
        res = run_cli(repo.root, "register", name, "--version", "1.0.0", "--weights", str(w))
        assert res.code == 2
        for cmd in (["show", name], ["gate", name, "--stage", "production"],
                    ["sign", f"{name}@1.0.0", "--key", str(outside)], ["verify", name]):
            TRIED["paths"] += 1
            res = run_cli(repo.root, *cmd)
            assert res.code in (1, 2), (cmd, res.err)
    assert repo.snapshot() == before
    # validate PATH outside the registry, and a symlinked record pointing out of it
    for target in ("../../etc/passwd", "/etc/passwd", str(outside)):
        TRIED["paths"] += 1
        res = run_cli(repo.root, "validate", target)
        assert res.code in (0, 1, 2) and "top secret" not in res.out + res.err
    versions = repo.root / "models/iris-classifier/versions"
    versions.mkdir(parents=True, exist_ok=True)
    (versions / "9.9.9.yaml").symlink_to(outside)
    TRIED["paths"] += 1
    res = run_cli(repo.root, "validate")
    assert "top secret" not in res.out + res.err and "Traceback" not in res.err


# --- forged tags never pass the gate ----------------------------------------------------------
GATES: collections.Counter = collections.Counter()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(["lightweight", "no-evidence", "forged-evidence", "borrowed"]),
       # any text git accepts as a tag message (an argument cannot hold a NUL byte, nor a lone
       # surrogate, which has no UTF-8 encoding)
       message=st.text(st.characters(blacklist_characters="\x00",
                                     blacklist_categories=("Cs",)), max_size=80))
def test_forged_stage_tags_never_pass_the_gate(repo, kind, message):
    import modelreg
    from modelreg.app.gate import gate

    TRIED["forged-tags"] += 1
    git = repo.git
    for t in git("tag", "-l").split():
        git("tag", "-d", t)
    git("tag", "-a", "iris-classifier@v1.0.0", "-m", "Register iris-classifier 1.0.0")
    name = "iris-classifier#production#1"
    if kind == "lightweight":
        git("tag", name)
    elif kind == "borrowed":
        git("tag", name, "iris-classifier@v1.0.0")
    else:
        body = message or "x"
        if kind == "forged-evidence":
            body += ("\n\nmodelreg-evidence:\n  event: assign\n  model: iris-classifier\n"
                     "  version: 1.0.0\n  stage: production\n  tool: modelreg 0.1.0\n")
        git("tag", "-a", name, "-m", body)
    result = gate(modelreg.open_registry(repo.root), "iris-classifier", "production",
                  engine="regorus")
    GATES["tried"] += 1
    GATES["passed"] += result.ok
    assert not result.ok and result.reasons


def test_zz_hostile_input_totals():
    """Runs last in this file: every property ran, nothing crashed, no gate passed."""
    total = sum(TRIED.values())
    assert total >= 1500, TRIED
    assert GATES["passed"] == 0 and GATES["tried"] >= 1
    (Path(os.environ.get("MODELREG_HOSTILE_REPORT", os.devnull))).write_text(
        f"{total} {dict(TRIED)} gates-passed={GATES['passed']}\n")


def test_no_subprocess_leaks():
    # picklescan, git and DVC are subprocess-free or waited for: nothing left running
    out = subprocess.run(["ps", "-o", "stat=", "--ppid", str(os.getpid())],
                         capture_output=True, text=True).stdout.split()
    assert "Z" not in "".join(out)
