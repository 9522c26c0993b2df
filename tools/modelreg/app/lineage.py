"""``modelreg lineage NAME@VERSION``: where a model version comes from and what derives from it.

The graph holds the version's datasets (with content hashes) and training code commit, its
parent versions recursively (with theirs), and every version record whose ``parent`` points
at it or at one of its descendants (EU AI Act Annex IV 2(a) and 2(d), rule DATA-06). Edges run
from what was used to what was made. Output is deterministic: nodes are sorted by kind and
key, and node ids are generated (``n0``, ``n1``…), never taken from names, so no text in a
record can inject syntax into Mermaid or DOT.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelreg.core.errors import ModelregError, UsageError
from modelreg.store.registry import MODELS_DIR, Registry, check_name, check_version

LINEAGE_VERSION = 1
_KIND_ORDER = {"dataset": 0, "code": 1, "version": 2}


@dataclass
class Node:
    id: str
    kind: str                     # "dataset", "code" or "version"
    key: str                      # unique: "dataset:ID@REV", "code:SHA", "MODEL@X.Y.Z"
    label: str
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "key": self.key, "label": self.label,
                **self.attrs}


@dataclass
class Graph:
    focus: str                    # the key of the version asked about
    nodes: list[Node]
    edges: list[tuple[str, str, str]]      # (from id, to id, relation)

    def node(self, key: str) -> Node:
        return next(n for n in self.nodes if n.key == key)

    def to_json(self) -> dict[str, Any]:
        return {"lineage_version": LINEAGE_VERSION, "focus": self.focus,
                "nodes": [n.to_json() for n in self.nodes],
                "edges": [{"from": a, "to": b, "relation": r} for a, b, r in self.edges]}

    def layers(self) -> dict[str, int]:
        """A layer per node for drawing left to right: datasets and code first, then each
        version one step after everything it was made from."""
        preds: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for a, b, _ in self.edges:
            preds[b].append(a)
        kinds = {n.id: n.kind for n in self.nodes}
        memo: dict[str, int] = {}

        def layer(node: str, seen: frozenset[str]) -> int:
            if node in memo:
                return memo[node]
            if kinds[node] != "version":
                value = 0
            else:
                value = 1 + max((layer(p, seen | {node}) for p in preds[node]
                                 if p not in seen), default=0)
            memo[node] = value
            return value

        return {n.id: layer(n.id, frozenset()) for n in self.nodes}


def parse_target(target: str) -> tuple[str, str]:
    """``NAME@VERSION`` → (name, version)."""
    name, sep, version = target.partition("@")
    if not sep or not version:
        raise UsageError(f"expected NAME@VERSION, got {target!r}",
                         hint="e.g. modelreg lineage iris-classifier@1.0.0")
    return check_name(name), check_version(version)


def _records(registry: Registry) -> dict[tuple[str, str], dict[str, Any]]:
    """Every readable version record, by (model, version); unreadable ones are skipped
    here (``modelreg validate`` reports them)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for name in registry.model_names():
        for version in registry.version_names(name):
            try:
                out[(name, version)] = registry.version(name, version).data
            except ModelregError:
                continue
    return out


def lineage(registry: Registry, name: str, version: str,
            records: dict[tuple[str, str], dict[str, Any]] | None = None) -> Graph:
    """The lineage graph of ``name@version`` (``records``: every version record, when the
    caller already read them, e.g. the site builder)."""
    check_name(name)
    version = check_version(version)
    if records is None:
        if not registry.has_model(name):
            raise UsageError(f"no model named {name!r}", hint="`modelreg ls` lists the models")
        records = _records(registry)
    if (name, version) not in records:
        if (registry.root / MODELS_DIR / name / "versions" / f"{version}.yaml").is_file():
            registry.version(name, version)     # raises the reason it cannot be read
        raise UsageError(f"{name} has no version {version}",
                         hint=f"`modelreg show {name}` lists its versions")
    children: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key, record in records.items():
        p = _parent(record)
        if p is not None:
            children.setdefault(p, []).append(key)

    nodes: dict[str, tuple[str, str, dict[str, Any]]] = {}     # key -> (kind, label, attrs)
    edges: set[tuple[str, str, str]] = set()

    def add_version(key: tuple[str, str]) -> str:
        vkey = f"{key[0]}@{key[1]}"
        attrs: dict[str, Any] = {"model": key[0], "version": key[1],
                                 "record": key in records}
        nodes.setdefault(vkey, ("version", f"{key[0]} {key[1]}", attrs))
        return vkey

    def add_inputs(key: tuple[str, str]) -> None:
        record = records.get(key) or {}
        vkey = add_version(key)
        for d in record.get("datasets") or []:
            if not isinstance(d, dict):
                continue
            did, rev = str(d.get("id", "?")), str(d.get("revision", ""))
            dkey = f"dataset:{did}@{rev}"
            digest = d.get("sha256") or d.get("md5")
            nodes.setdefault(dkey, ("dataset", f"{did}@{rev}" if rev else did,
                                    {"dataset": did, "revision": rev or None,
                                     "sha256": str(digest) if digest else None}))
            edges.add((dkey, vkey, str(d.get("role") or "data")))
        code = record.get("code") if isinstance(record.get("code"), dict) else {}
        if code.get("commit"):
            commit = str(code["commit"])
            ckey = f"code:{commit}"
            nodes.setdefault(ckey, ("code", f"code {commit[:12]}",
                                    {"commit": commit, "dirty": bool(code.get("dirty")),
                                     "repo": code.get("repo")}))
            edges.add((ckey, vkey, "code"))

    focus = (name, version)
    add_inputs(focus)
    seen = {focus}
    current = focus
    while True:                                   # ancestors, with their own inputs
        parent = _parent(records.get(current) or {})
        if parent is None:
            break
        edges.add((add_version(parent), f"{current[0]}@{current[1]}", "parent"))
        if parent in seen:                        # a cycle (DATA-06 reports it): stop
            break
        seen.add(parent)
        add_inputs(parent)
        current = parent
    queue = [focus]
    done = {focus}
    while queue:                                  # descendants, breadth first
        key = queue.pop(0)
        for child in sorted(children.get(key, [])):
            edges.add((f"{key[0]}@{key[1]}", add_version(child), "parent"))
            if child not in done:
                done.add(child)
                queue.append(child)

    ordered = sorted(nodes.items(), key=lambda kv: (_KIND_ORDER[kv[1][0]], kv[0]))
    ids = {key: f"n{i}" for i, (key, _) in enumerate(ordered)}
    graph_nodes = [Node(ids[key], kind, key, label, {**attrs, "focus": key == f"{name}@{version}"})
                   for key, (kind, label, attrs) in ordered]
    graph_edges = sorted(((ids[a], ids[b], r) for a, b, r in edges),
                         key=lambda e: (int(e[0][1:]), int(e[1][1:]), e[2]))
    return Graph(f"{name}@{version}", graph_nodes, graph_edges)


def _parent(record: dict[str, Any]) -> tuple[str, str] | None:
    p = record.get("parent")
    if isinstance(p, dict) and p.get("model") and p.get("version"):
        return str(p["model"]), str(p["version"])
    return None


__all__ = ["lineage", "parse_target", "Graph", "Node", "LINEAGE_VERSION"]
