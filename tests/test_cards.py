"""``modelreg card``: rendering, prose kept across renders, --check, the Hugging Face round trip,
escaping, bad input, the registry's own template, and the card that ``register`` writes.

Golden files live in tests/data/cards/; regenerate them with MODELREG_UPDATE_GOLDEN=1 (the
test still compares afterwards, so a regenerated file is reviewed in the diff).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

import modelreg
from conftest import PROJECT, write_weights
from modelreg.core import cardtext
from modelreg.core.cardtext import parse_card
from modelreg.core.errors import CannotRunError
from modelreg.steps.registration import DatasetSpec, RegisterRequest
from modelreg.store import cards

GOLDEN = Path(__file__).parent / "data" / "cards"
HOSTILE = "<script>alert('x')</script> & <b>bold</b>"


def _add_version(repo, name: str) -> None:
    """The shipped example's version record, so the card has results to show."""
    src = PROJECT / "models" / name / "versions" / "1.0.0.yaml"
    dest = repo.root / "models" / name / "versions" / "1.0.0.yaml"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MODELREG_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} differs: see the diff above"


def _edit_model(repo, name: str, **changes) -> None:
    path = repo.root / "models" / name / "model.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# --- rendering --------------------------------------------------------------------------
def test_card_matches_the_golden_file(repo, run_cli):
    _add_version(repo, "credit-default")
    res = run_cli(repo.root, "card", "credit-default")
    assert res.code == 0, res.err
    _golden("credit-default.md", res.out)
    assert cards.sections_of(res.out) == list(cards.SECTIONS)


def test_model_without_versions_renders(repo, run_cli):
    res = run_cli(repo.root, "card", "iris-classifier")
    assert res.code == 0, res.err
    _golden("iris-classifier-no-versions.md", res.out)
    assert "No versions yet" in res.out and "model-index" not in res.out


def test_shipped_template_and_policy_agree_on_the_sections(repo):
    _add_version(repo, "iris-classifier")
    rendered = cards.render(modelreg.open_registry(repo.root), "iris-classifier")
    assert cards.sections_of(rendered.text) == list(cards.SECTIONS)
    policy = yaml.safe_load((PROJECT / "policies/data/cards.yaml").read_text())
    required = [s for group in ("required", "high_risk") for names in policy[group].values()
                for s in names]
    assert set(required) <= set(cards.SECTIONS)


def test_front_matter_in_hugging_face_format(repo):
    _add_version(repo, "credit-default")
    front = cards.render(modelreg.open_registry(repo.root), "credit-default").front_matter
    assert front["license"] == "other" and front["license_name"] == "proprietary-internal"
    assert front["license_link"] == "https://example.com/legal/proprietary-internal"
    assert front["pipeline_tag"] == "tabular-classification"
    assert front["datasets"] == ["credit-applications-train", "credit-applications-test"]
    overall, *slices = front["model-index"][0]["results"]
    assert overall["dataset"] == {"type": "credit-applications-test",
                                  "name": "credit-applications-test", "split": "test",
                                  "revision": "2026.11"}
    # the Hub's metric id; the slice is the dataset's config, never in the metric's name
    assert {"type": "roc_auc", "value": 0.7241, "name": "auc"} in overall["metrics"]
    old = [r for r in slices if r["dataset"].get("config") == "age_band=51+"]
    assert old and old[0]["metrics"] == [{"type": "roc_auc", "value": 0.6651, "name": "auc"}]
    assert all("(" not in m["name"] for r in slices for m in r["metrics"])


@pytest.mark.parametrize(("name", "hub", "args"), [
    ("f1_macro", "f1", {"average": "macro"}), ("recall_weighted", "recall", {"average": "weighted"}),
    ("auc", "roc_auc", {}), ("roc_auc", "roc_auc", {}), ("accuracy", "accuracy", {}),
    ("rmse", "mse", {"squared": False}), ("ks_statistic", "ks_statistic", {}),
])
def test_metric_names_become_hub_metric_ids(name, hub, args):
    assert cards.hub_metric(name) == (hub, args)


@pytest.mark.parametrize(("model", "front"), [
    ({"license": "MIT"}, {"license": "mit"}),
    ({"license": "LGPL-2.1-only", "license_link": "https://spdx.org/licenses/LGPL-2.1-only"},
     {"license": "other", "license_name": "lgpl-2.1-only",
      "license_link": "https://spdx.org/licenses/LGPL-2.1-only"}),
    ({"license": "other", "license_name": "Vendor model licence", "license_link": "LICENSE"},
     {"license": "other", "license_name": "vendor-model-licence", "license_link": "LICENSE"}),
])
def test_licences_the_hub_does_not_know_are_other_with_name_and_link(model, front):
    assert cards.front_matter("m", model, []) == front


def test_base_model_is_declared_when_the_model_has_one(repo):
    _edit_model(repo, "iris-classifier",
                base_model={"id": "iris-base", "version": "2.0.0", "relation": "finetune"})
    front = cards.render(modelreg.open_registry(repo.root), "iris-classifier").front_matter
    assert front["base_model"] == "iris-base" and front["base_model_relation"] == "finetune"
    assert front["license"] == "apache-2.0"


def test_hugging_face_model_card_loads_and_round_trips(repo, tmp_path, monkeypatch):
    import huggingface_hub as hub  # a test dependency: never skipped
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")          # a local file: never the network
    _add_version(repo, "credit-default")
    registry = modelreg.open_registry(repo.root)
    rendered = cards.write(registry, "credit-default")
    card = hub.ModelCard.load(repo.root / rendered.path)
    assert card.data.to_dict() == rendered.front_matter
    assert card.data.eval_results and card.data.eval_results[0].metric_value == 0.7241
    assert card.data.license_name and card.data.license_link        # `other` needs both
    # the Hub's own reading of model-index: metric ids, slices as dataset configs
    meta = hub.metadata_load(repo.root / rendered.path)
    name, results = hub.repocard_data.model_index_to_eval_results(meta["model-index"])
    assert name == "credit-default"
    got = {(r.dataset_type, r.dataset_config, r.dataset_split, r.metric_type, r.metric_value)
           for r in results}
    assert ("credit-applications-test", None, "test", "roc_auc", 0.7241) in got
    assert ("credit-applications-test", "sex=F", "test", "roc_auc", 0.7437) in got
    assert all(r.metric_name in ("auc", "accuracy") for r in results)
    assert "## Quantitative Analyses" in card.text


# --- prose is the author's --------------------------------------------------------------
def test_prose_extra_sections_and_keys_survive_a_re_render(repo, run_cli):
    _add_version(repo, "iris-classifier")
    registry = modelreg.open_registry(repo.root)
    path = repo.root / cards.write(registry, "iris-classifier").path
    prose = "Teaching only.\n\n<!-- a note -->\nSee *the notebook*:\n\n```\n## not a heading\n```"
    text = path.read_text()
    text = text.replace(cards.PLACEHOLDER, prose, 2)   # Model Details and Intended Use
    text = text.replace("---\n\n", "language: [en]\n---\n\n", 1)
    text += "\n## Glossary\n\nIris: a flower.\n"
    path.write_text(text)
    _edit_model(repo, "iris-classifier", summary="A new summary.", tags=["example"])
    rendered = cards.write(registry, "iris-classifier")
    assert rendered.stale
    new = path.read_text()
    assert new.count(prose) == 2 and "A new summary." in new
    assert new.rstrip().endswith("## Glossary\n\nIris: a flower.")
    assert rendered.front_matter["language"] == ["en"]
    assert rendered.front_matter["tags"] == ["example"]
    assert cards.sections_of(new) == [*cards.SECTIONS, "Glossary"]
    assert not cards.write(registry, "iris-classifier").stale      # idempotent


def test_hand_written_card_keeps_its_text_after_the_generated_block(repo):
    path = repo.root / "models/iris-classifier/card.md"
    path.write_text("# Iris\n\n## Intended Use\n\nOnly for teaching the registry.\n")
    rendered = cards.write(modelreg.open_registry(repo.root), "iris-classifier")
    section = rendered.text.split("## Intended Use\n", 1)[1].split("\n## ", 1)[0]
    assert section.index(cards.END) < section.index("Only for teaching the registry.")
    assert "# Iris" in rendered.text


# --- --check ----------------------------------------------------------------------------
def test_check_stale_is_1_and_fresh_is_0(repo, run_cli):
    _add_version(repo, "iris-classifier")
    res = run_cli(repo.root, "card", "iris-classifier", "--check")
    assert res.code == 1 and "[CARD-04] card is missing" in res.out
    assert run_cli(repo.root, "card", "iris-classifier", "--write").code == 0
    res = run_cli(repo.root, "card", "iris-classifier", "--check", "--json")
    findings = __import__("json").loads(res.out)["findings"]
    assert res.code == 1 and {f["rule"] for f in findings} == {"CARD-01"}   # placeholders
    path = repo.root / "models/iris-classifier/card.md"
    path.write_text(path.read_text().replace(cards.PLACEHOLDER, "Written by the owning team."))
    assert run_cli(repo.root, "card", "iris-classifier", "--check").code == 0
    _edit_model(repo, "iris-classifier", summary="Changed.")
    res = run_cli(repo.root, "card", "iris-classifier", "--check")
    assert res.code == 1
    assert "models/iris-classifier/card.md:" in res.out and "[CARD-04] card is stale: run " \
        "modelreg card iris-classifier --write" in res.out


def test_check_requires_the_sections_of_the_requested_stage(repo, run_cli):
    _add_version(repo, "credit-default")
    assert run_cli(repo.root, "card", "credit-default", "--write").code == 0
    path = repo.root / "models/credit-default/card.md"
    text = path.read_text()
    for title in ("Model Details", "Intended Use", "How to Get Started", "Model Card Contact"):
        head, tail = text.split(f"## {title}\n", 1)
        text = head + f"## {title}\n" + tail.replace(cards.PLACEHOLDER, "Real text, long enough.",
                                                       1)
    path.write_text(text)
    assert run_cli(repo.root, "card", "credit-default", "--check").code == 0
    res = run_cli(repo.root, "card", "credit-default", "--check", "--stage", "production")
    assert res.code == 1 and "[CARD-03]" in res.out and "'## Logging'" in res.out
    assert "[CARD-01]" in res.out and "'## Changelog'" in res.out


def _card_findings(res) -> set[tuple]:
    findings = json.loads(res.out)["findings"]
    return {(f["file"], f["line"], f["rule"], f["message"]) for f in findings
            if f["rule"].startswith("CARD-")}


def test_card_check_and_check_follow_the_same_card_policy(repo, run_cli):
    """The card rules live only in policies/card.rego: editing it changes what `card --check`
    reports exactly as it changes what `check` reports."""
    _add_version(repo, "credit-default")
    assert run_cli(repo.root, "card", "credit-default", "--write").code == 0
    path = repo.root / "models/credit-default/card.md"
    path.write_text(path.read_text().replace(cards.PLACEHOLDER, "Written by the owning team."))

    def both(*stage: str) -> tuple[set, set]:
        card = run_cli(repo.root, "card", "credit-default", "--check", "--json",
                       "--engine", "regorus", *stage)
        check = run_cli(repo.root, "check", "--json", "--engine", "regorus", *stage)
        found = _card_findings(card)
        assert found == {f for f in _card_findings(check) if "credit-default" in f[0]}
        assert card.code == (1 if found else 0)
        return found, {f[3] for f in found}

    assert both() == (set(), set())
    rego = repo.root / "policies/card.rego"
    text = rego.read_text()
    # the house adds a section every stage requires and words the message its own way
    text = text.replace("required(doc) := object.get(required_at, doc.stage, set())",
                        'required(doc) := object.get(required_at, doc.stage, set()) | '
                        '{"Glossary"}')
    text = text.replace("\"card section '## %s' is missing,", "\"house rule: section '## %s' "
                        "is missing,")
    assert "Glossary" in text and "house rule" in text
    rego.write_text(text)
    found, messages = both()
    assert messages == {"house rule: section '## Glossary' is missing, still holds a "
                        "placeholder or has fewer than 20 characters of text; registered needs "
                        "it: write it"}
    # a section no stage asks for, left unwritten, and then required by an edit of the policy
    head, tail = path.read_text().split("## Recommendations\n", 1)
    path.write_text(head + "## Recommendations\n" + tail.replace("Written by the owning team.",
                                                                  "TODO", 1))
    rego.write_text(text.replace('"Glossary"', '"Recommendations"'))
    found, messages = both()
    line = path.read_text().split("\n").index("## Recommendations") + 1
    assert {f[1:3] for f in found} == {(line, "CARD-01")}
    found, messages = both("--stage", "production")
    assert {f[1:3] for f in found} == {(line, "CARD-01")}
    assert all("production needs it" in m for m in messages)


def test_modelreg_check_reports_a_stale_card(repo, run_cli):
    _add_version(repo, "iris-classifier")
    registry = modelreg.open_registry(repo.root)
    cards.write(registry, "iris-classifier")
    res = run_cli(repo.root, "check", "--engine", "regorus")
    assert "CARD-04" not in res.out
    assert list((repo.root / ".git/modelreg/cache/cards").glob("*.seg"))  # the result is kept
    _edit_model(repo, "iris-classifier", summary="Changed.")
    res = run_cli(repo.root, "check", "--engine", "regorus")
    assert res.code == 1 and "[CARD-04] card is stale" in res.out
    # a cached "up to date" never hides an edit to the card's generated part
    cards.write(registry, "iris-classifier")
    assert "CARD-04" not in run_cli(repo.root, "check", "--engine", "regorus").out
    card = repo.root / "models/iris-classifier/card.md"
    card.write_text(card.read_text().replace("| accuracy |", "| accuracy (edited) |", 1))
    res = run_cli(repo.root, "check", "--engine", "regorus")
    assert res.code == 1 and "[CARD-04] card is stale" in res.out


# --- bad input --------------------------------------------------------------------------
def test_html_and_script_are_escaped(repo):
    _edit_model(repo, "iris-classifier", title=HOSTILE,
                summary="line one\n## Intended Use\n<!-- modelreg:generated:end -->",
                intended_use={"purpose": HOSTILE, "out_of_scope": [HOSTILE]})
    _add_version(repo, "iris-classifier")
    path = repo.root / "models/iris-classifier/versions/1.0.0.yaml"
    path.write_text(path.read_text().replace("message: Logistic regression on the iris data.",
                                             "message: \"" + HOSTILE.replace("'", "''") + "\""))
    rendered = cards.render(modelreg.open_registry(repo.root), "iris-classifier")
    body = rendered.text.split("\n---\n", 1)[1]
    assert "<script" not in body and "<b>" not in body
    assert "&lt;script&gt;alert('x')&lt;/script&gt; & &lt;b&gt;bold&lt;/b&gt;" in body
    assert cards.sections_of(rendered.text) == list(cards.SECTIONS)   # nothing injected
    assert body.count(cards.END) == len(cards.SECTIONS) + 1


def test_broken_front_matter_names_file_and_line(repo, run_cli):
    path = repo.root / "models/iris-classifier/card.md"
    path.write_text("---\nlicense: apache-2.0\ntags: [a, b\nlibrary_name: sklearn\n---\n\n"
                    "## Model Details\n\nText.\n")
    res = run_cli(repo.root, "card", "iris-classifier", "--write")
    assert res.code == 1 and "models/iris-classifier/card.md:4: invalid YAML" in res.err
    path.write_text("---\nlicense: mit\nlicense: apache-2.0\n---\n")
    res = run_cli(repo.root, "card", "iris-classifier")
    assert res.code == 1 and "card.md:3: invalid YAML: duplicate key 'license' (first " \
        "defined on line 2)" in res.err
    with pytest.raises(modelreg.InputError) as info:     # check's reading agrees on the line
        parse_card(path.read_text(), "card.md")
    assert info.value.line == 3
    path.write_text("---\nlicense: mit\n\n## Model Details\n")
    res = run_cli(repo.root, "card", "iris-classifier", "--check")
    assert res.code == 1 and "card.md:1: [ID-00]" in res.out and "never closed" in res.out


def test_one_reading_of_a_card_with_lines():
    text = ("---\nlicense: mit\ndescription: |\n  ---\n---\nIntro.\n## Model Details\n\n"
            "```\n## not a heading\n```\n<!-- hidden -->\n## Intended Use ##\nTBD\n")
    front, parts = cardtext.sections(text, "card.md")
    assert front == {"license": "mit", "description": "---"}
    assert [(p.title, p.line) for p in parts] == [("", 6), ("Model Details", 7),
                                                  ("Intended Use", 13)]
    assert parts[0].lines == ((6, "Intro."),)
    assert cardtext.body(text).startswith("Intro.\n")
    card = parse_card(text, "card.md", ["TBD"])
    assert card.sections == {"Model Details": "```\n## not a heading\n```",
                             "Intended Use": ""}
    assert card.lines == {"Model Details": 7, "Intended Use": 13}
    assert cardtext.body("---\nnever closed\n") == "---\nnever closed\n"   # shown as text


def test_unclosed_generated_block_is_an_input_error(repo, run_cli):
    path = repo.root / "models/iris-classifier/card.md"
    path.write_text(f"## Model Details\n\n{cards.START}\nold\n\n## Intended Use\n\nText.\n")
    res = run_cli(repo.root, "card", "iris-classifier")
    assert res.code == 1 and "card.md:3: generated block is never closed" in res.err


def test_registry_template_overrides_the_shipped_one(repo, run_cli):
    template = repo.root / "templates" / "card.md.j2"
    template.parent.mkdir()
    template.write_text("---\n{{ front_matter }}---\n\n## Model Details\n\n"
                        f"{cards.START}\nHouse style for {{{{ name }}}}.\n{cards.END}\n\n"
                        "[More Information Needed]\n")
    res = run_cli(repo.root, "card", "iris-classifier")
    assert res.code == 0, res.err
    assert "House style for iris-classifier." in res.out
    assert cards.sections_of(res.out) == ["Model Details"]
    template.write_text("## Model Details\n\n{% if name %}\nunclosed\n")
    res = run_cli(repo.root, "card", "iris-classifier")
    assert res.code == 3 and "templates/card.md.j2:4: card template error" in res.err
    template.write_text("{{ name.__class__.__mro__[1].__subclasses__() }}\n")
    with pytest.raises(CannotRunError, match="card template error"):   # sandboxed
        cards.render(modelreg.open_registry(repo.root), "iris-classifier")


# --- register writes the card -----------------------------------------------------------
def _request(tmp_path: Path, version: str = "1.0.0") -> RegisterRequest:
    weights = write_weights(tmp_path / "out", payload=b"\x02" * 64)
    return RegisterRequest(name="iris-classifier", version=version, weights=[str(weights)],
                           datasets=[DatasetSpec.parse("test:iris-test@2026.11")], branch=False)


def test_register_renders_and_commits_the_card(repo, tmp_path):
    path = repo.root / "models/iris-classifier/card.md"
    path.write_text("## Intended Use\n\nOnly for teaching.\n")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "hand-written card")
    result = modelreg.register(modelreg.open_registry(repo.root), _request(tmp_path))
    assert "models/iris-classifier/card.md" in result.files
    committed = repo.git("show", "HEAD:models/iris-classifier/card.md")
    assert "Only for teaching." in committed and "| iris-test | 2026.11 | test |" in committed
    assert repo.git("status", "--porcelain") == ""


def test_failed_register_restores_the_card(repo, tmp_path):
    path = repo.root / "models/iris-classifier/card.md"
    path.write_text("## Intended Use\n\nOnly for teaching.\n")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "hand-written card")
    before = repo.snapshot()

    def fail():
        raise CannotRunError("injected failure")

    with pytest.raises(CannotRunError, match="injected failure"):
        modelreg.register(modelreg.open_registry(repo.root), _request(tmp_path),
                          hooks={"git_commit": fail})
    assert repo.snapshot() == before


def test_averaged_metrics_reach_the_hub_with_their_args(repo, monkeypatch):
    """f1_macro is the Hub's `f1` with `args: {average: macro}`, as huggingface_hub reads it."""
    import huggingface_hub as hub
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _add_version(repo, "iris-classifier")
    rendered = cards.write(modelreg.open_registry(repo.root), "iris-classifier")
    card = hub.ModelCard.load(repo.root / rendered.path)
    f1 = [r for r in card.data.eval_results if r.metric_name == "f1_macro"]
    assert len(f1) == 1 and f1[0].metric_type == "f1" and f1[0].metric_args == {"average": "macro"}
    assert f1[0].dataset_type == "iris-test" and f1[0].dataset_revision == "2026.11"
