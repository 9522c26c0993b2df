"""The library API as the documentation shows it: the python blocks under the "Library API"
heading (README.md, or wherever docs/*.md holds it) run, in order, in a real registry; and
what a deploy script relies on (artifacts, dates, dataset strings) works as written."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

import modelreg
from conftest import PROJECT, stage_on_main, write_weights

HEADING = re.compile(r"^(#{1,6})[ \t]+Library API[ \t]*$", re.M)
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def library_api_blocks() -> tuple[Path, list[str]]:
    """The python code blocks of the "Library API" section, from its heading to the next
    heading of the same or a higher level."""
    for path in [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("**/*.md"))]:
        text = path.read_text(encoding="utf-8")
        m = HEADING.search(text)
        if m is None:
            continue
        level = len(m.group(1))
        end = re.compile(rf"^#{{1,{level}}}[ \t]+\S", re.M).search(text, m.end())
        section = text[m.end(): end.start() if end else len(text)]
        return path, [b for b in FENCE.findall(section)]
    raise AssertionError("no \"Library API\" heading in README.md or docs/*.md")


def _tag(repo, name: str, date: str, target: str = "HEAD") -> None:
    repo.git("tag", "-s", name, target, "-m", f"event {name}",
             env={"GIT_COMMITTER_DATE": date})


@pytest.fixture
def in_production(repo, tmp_path):
    """iris-classifier 1.0.0 registered on main and in production since 2026-05-03."""
    reg = modelreg.open_registry(repo.root)
    w = write_weights(tmp_path / "w", payload=b"iris-1.0.0" * 10)
    modelreg.register(reg, modelreg.RegisterRequest(
        name="iris-classifier", version="1.0.0", weights=[str(w)], branch=False,
        datasets=["train:iris-train@2026.11", "test:iris-test@2026.11"]))
    _tag(repo, "iris-classifier@v1.0.0", "2026-05-02T10:00:00Z")
    stage_on_main(repo.root, "iris-classifier", "production", "1.0.0", 1, "2026-05-03T10:00:00Z")
    repo.git("push", "-q", "origin", "main")
    return repo


def test_the_documented_examples_run(in_production, monkeypatch):
    path, blocks = library_api_blocks()
    assert blocks, f"{path.name}: the Library API section has no python example"
    root = in_production.root
    write_weights(root / "train", payload=b"iris-1.1.0" * 10)   # the example's weights
    monkeypatch.chdir(root)
    namespace: dict = {"__name__": "library_api_example"}
    for i, block in enumerate(blocks):
        code = compile(block, f"{path.name}: Library API, python block {i + 1}", "exec")
        exec(code, namespace)                                    # noqa: S102 - our own docs


def test_resolution_carries_the_artifacts(in_production):
    reg = modelreg.open_registry(in_production.root)
    prod = reg.resolve("iris-classifier", stage="production")
    assert (prod.version, prod.stage) == ("1.0.0", "production")
    record = reg.version("iris-classifier", "1.0.0").data["artifacts"][0]
    (art,) = prod.artifacts
    assert art == modelreg.Artifact.from_record(record)
    assert art.path == "models/iris-classifier/versions/1.0.0/model.safetensors"
    assert len(art.sha256) == 64 and len(art.md5) == 32 and art.dvc_file.endswith(".dvc")
    assert reg.resolve("iris-classifier").artifacts == prod.artifacts


def test_resolution_artifacts_from_the_registration_commit(in_production):
    """A deploy clone that lost the record in its work tree still gets the artifacts."""
    root = in_production.root
    (root / "models/iris-classifier/versions/1.0.0.yaml").unlink()
    reg = modelreg.open_registry(root)
    prod = reg.resolve("iris-classifier", stage="production")
    assert [a.path for a in prod.artifacts] == [
        "models/iris-classifier/versions/1.0.0/model.safetensors"]


@pytest.mark.parametrize("at, held", [
    ("2026-05-02", {}), ("2026-05-03", {"production": "1.0.0"}),
    ("2026-05-03T09:59:59Z", {}), ("2026-05-03T10:00:00Z", {"production": "1.0.0"}),
    (dt.date(2026, 5, 3), {"production": "1.0.0"}),
    (dt.datetime(2026, 5, 3, 9, 0, tzinfo=dt.UTC), {}),
])
def test_state_at_a_date_as_the_cli_takes_it(in_production, at, held):
    reg = modelreg.open_registry(in_production.root)
    assert reg.state("iris-classifier", at=at).stages == held


def test_state_at_an_invalid_date_is_a_usage_error(in_production):
    reg = modelreg.open_registry(in_production.root)
    with pytest.raises(modelreg.UsageError, match="invalid date"):
        reg.state("iris-classifier", at="30/11/2026")


def test_register_request_takes_dataset_strings():
    req = modelreg.RegisterRequest(name="iris-classifier", version="1.0.0", weights=["w"],
                                   datasets=["train:iris-train@2026.11:data/train.csv"])
    assert req.datasets == [modelreg.DatasetSpec("train", "iris-train", "2026.11",
                                                 "data/train.csv")]
    with pytest.raises(modelreg.UsageError, match="iris-train") as caught:
        modelreg.RegisterRequest(name="iris-classifier", version="1.0.0", weights=["w"],
                                 datasets=["iris-train"])
    assert "ROLE:ID@REVISION" in (caught.value.hint or "")
