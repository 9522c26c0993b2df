"""The registry-wide index (store/index.py) on its own: references resolved from the records
a check hands it, cycles found through parents and base models, long chains walked without
recursion, and what `ls` keeps of each model.yaml."""
from __future__ import annotations

import modelreg
from modelreg.store.index import RegistryIndex


def _v(i: int) -> str:
    return f"{i // 100}.{i % 100}.0"


def test_a_long_chain_of_retrains_has_no_cycle_and_is_walked_once(empty_repo):
    index = RegistryIndex(modelreg.open_registry(empty_repo.root))
    versions = {_v(i): {"parent": {"model": "scorer", "version": _v(i - 1)}} if i else {}
                for i in range(5000)}
    index.judging("scorer", {"name": "scorer", "license": "MIT"}, versions)
    facts = index.facts("scorer", _v(4999))
    assert facts["cycle"] is None            # 5,000 deep: iterative, no RecursionError
    assert facts["parent"] == {"model": "scorer", "version": _v(4998), "exists": True}
    assert ("scorer", _v(0)) in index._acyclic      # remembered for every later question


def test_cycles_through_parents_and_through_base_models_are_named(empty_repo):
    index = RegistryIndex(modelreg.open_registry(empty_repo.root))
    index.judging("a", {"license": "MIT"}, {"1.0.0": {"parent": {"model": "a", "version": "2.0.0"}},
                                            "2.0.0": {"parent": {"model": "a", "version": "1.0.0"}}})
    assert index.facts("a", "1.0.0")["cycle"] == ["a@1.0.0", "a@2.0.0", "a@1.0.0"]
    index.judging("bert-tuned", {"license": "MIT", "base_model": {"id": "bert-base"}}, {})
    index.judging("bert-base", {"license": "MIT", "base_model": {"id": "bert-tuned"}}, {})
    assert index.facts("bert-tuned", None)["cycle"] == ["bert-tuned", "bert-base", "bert-tuned"]


def test_a_parent_without_a_record_and_an_unknown_base_are_said(empty_repo):
    index = RegistryIndex(modelreg.open_registry(empty_repo.root),
                          states=lambda name: modelreg.open_registry(empty_repo.root).state(name))
    index.judging("d", {"license": "MIT", "base_model": {"id": "org/outside", "version": "r1"}},
                  {"1.0.0": {"parent": {"model": "nowhere", "version": "1.0.0"}}})
    facts = index.facts("d", "1.0.0")
    assert facts["parent"] == {"model": "nowhere", "version": "1.0.0", "exists": False}
    assert facts["base"] == {"id": "org/outside", "version": "r1", "source": "external"}
    assert facts["cycle"] is None
