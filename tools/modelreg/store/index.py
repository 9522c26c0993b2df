"""The registry-wide index: what one model's rules need to know about the others.

A model names other models: its ``base_model`` (model.yaml) and each version's ``parent``
(the version it was retrained or fine-tuned from). Whether those references resolve, what
licence a base model carries and whether the graph they make has a cycle (ID-07, DATA-06)
cannot be judged from one model's files. The index answers it from every model's
``model.yaml`` and version records, read once each and only when a question reaches them:
``ls`` lists every model through it (one pass over ``models/``), a full check asks about
every model it judges, and a pull request's check reads only the records its models name
(a chain of parents, a base model), whatever the registry holds.

Summaries of ``model.yaml`` are kept by the file's bytes in ``.git/modelreg/cache/`` (``ls``
reads them from there); version records are read through the registry.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelreg.core.errors import ModelregError
from modelreg.core.records import ModelState
from modelreg.store.cache import ContentCache
from modelreg.store.findings import read_findings, summary
from modelreg.store.registry import MODELS_DIR, Registry, check_name

Node = tuple[str, str | None]           # (model, version); None: the model as a whole


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def model_summary(data: Any) -> dict[str, Any]:
    """What the index keeps of one ``model.yaml``: what ``ls`` shows and what other
    models' rules ask about it."""
    data = _dict(data)
    owner, risk = _dict(data.get("owner")), _dict(data.get("risk"))
    eu = _dict(risk.get("eu_ai_act"))
    base = _dict(data.get("base_model"))
    retirement = _dict(data.get("retirement"))
    return {"title": data.get("title"), "owner": owner.get("team"),
            "risk_tier": risk.get("tier"), "eu_ai_act_class": eu.get("class"),
            "license": data.get("license"),
            "base_model": {"id": base.get("id"), "version": base.get("version")}
            if isinstance(base.get("id"), str) else None,
            "retired": {"date": _text(retirement.get("date")),
                        "reason": _text(retirement.get("reason"))} if retirement else None}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def parent_of(record: Any) -> Node | None:
    """A version record's ``parent`` as a node (None when it names none)."""
    p = _dict(_dict(record).get("parent"))
    if isinstance(p.get("model"), str) and isinstance(p.get("version"), str):
        return p["model"], p["version"]
    return None


class RegistryIndex:
    """Lazy, memoised answers about every model of ``registry`` (at its revision).

    ``states`` gives a model's tag state (whether a base model's version is registered);
    ``cache`` keeps ``model.yaml`` summaries by content between runs."""

    def __init__(self, registry: Registry, *,
                 states: Callable[[str], ModelState] | None = None,
                 cache: ContentCache | None = None) -> None:
        self.registry = registry
        self._states = states or registry.state
        self._cache = cache
        self.used: set[str] = set()                # cache keys read or written
        self._models: dict[str, dict[str, Any] | None] = {}
        self._parents: dict[Node, Node | None | bool] = {}
        self._acyclic: set[Node] = set()
        self._own_parents: dict[Node, Node | None] = {}

    # -- reading ------------------------------------------------------------------------------

    def model(self, name: str) -> dict[str, Any] | None:
        """The summary of ``name``'s ``model.yaml`` (None: no such model; a file that cannot
        be read gives an empty summary with its ``error``)."""
        if name not in self._models:
            self._models[name] = self._read_model(name)
        return self._models[name]

    def _read_model(self, name: str) -> dict[str, Any] | None:
        rel = f"{MODELS_DIR}/{name}/model.yaml"
        try:
            check_name(name)
            if not self.registry.exists(rel):
                return None
            raw = self.registry.read_bytes(rel)
        except ModelregError as exc:
            return {**model_summary({}), "error": str(exc)}
        key = ContentCache.key(raw)
        hit = self._cache.get(key) if self._cache is not None else None
        if isinstance(hit, dict) and "license" in hit:
            self.used.add(key)
            return hit
        try:
            entry = model_summary(self.registry.model(name).data)
        except ModelregError as exc:
            return {**model_summary({}), "error": str(exc)}
        if self._cache is not None:
            self._cache.put(key, entry)
            self.used.add(key)
        return entry

    def has_version(self, name: str, version: str) -> bool:
        return self._parent((name, version)) is not False

    def _parent(self, node: Node) -> Node | None | bool:
        """The parent of a version node (None: it names none; False: no such record)."""
        if node in self._own_parents:
            return self._own_parents[node]
        if node not in self._parents:
            name, version = node
            try:
                record = self.registry.version(name, version or "").data \
                    if version is not None and self.registry.has_model(name) else False
            except ModelregError:
                record = False
            self._parents[node] = parent_of(record) if record is not False else False
        return self._parents[node]

    def judging(self, name: str, model: Any, versions: dict[str, Any]) -> None:
        """The records of ``name`` as the caller judges them (a pull request's head, say):
        the index answers from these rather than from the registry's copy. Call it before
        asking about the model."""
        self._models[name] = model_summary(model)
        for version, record in versions.items():
            self._own_parents[(name, version)] = parent_of(record)

    def findings(self, name: str, today: str) -> dict[str, int]:
        """Counts of the model's open validation findings (open, high, past due)."""
        return summary(read_findings(self.registry, name), today)

    # -- questions the rules ask --------------------------------------------------------------

    def base(self, name: str) -> dict[str, Any] | None:
        """``name``'s base model, resolved: ``source`` is ``registry`` (with whether that
        version is registered, its licence and retirement) or ``external`` (the policies
        look it up in the allow-list)."""
        entry = self.model(name)
        base = entry.get("base_model") if entry else None
        if not base:
            return None
        bid, bversion = base["id"], base.get("version")
        target = self.model(bid) if _is_name(bid) else None
        if target is None:
            return {"id": bid, "version": bversion, "source": "external"}
        registered = self._states(bid).registered
        return {"id": bid, "version": bversion, "source": "registry",
                "registered": (bversion in registered) if bversion else bool(registered),
                "license": target.get("license"), "retired": target.get("retired") is not None}

    def _edges(self, node: Node) -> list[Node]:
        name, version = node
        out: list[Node] = []
        if version is not None:
            parent = self._parent(node)
            if isinstance(parent, tuple):
                out.append(parent)
        entry = self.model(name)
        base = entry.get("base_model") if entry else None
        if base and _is_name(base["id"]) and self.model(base["id"]) is not None:
            out.append((base["id"], base.get("version")))
        return out

    def cycle(self, node: Node) -> list[str] | None:
        """A cycle of parents and base models reachable from ``node``, as the names along
        it (``model@version`` or ``model``), first repeated at the end; None when there is
        none. Depth-first, iterative (a chain of thousands of retrains is fine)."""
        on_path: dict[Node, int] = {}
        path: list[Node] = []
        stack: list[tuple[Node, list[Node]]] = []
        done = self._acyclic          # nodes from which no cycle is reachable, kept

        def enter(n: Node) -> None:
            on_path[n] = len(path)
            path.append(n)
            stack.append((n, self._edges(n)))

        enter(node)
        while stack:
            n, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                del on_path[n]
                done.add(n)
                continue
            nxt = todo.pop()
            if nxt in on_path:
                loop = path[on_path[nxt]:] + [nxt]
                return [f"{m}@{v}" if v else m for m, v in loop]
            if nxt not in done:
                enter(nxt)
        return None

    def facts(self, name: str, version: str | None) -> dict[str, Any]:
        """What the lineage rules judge for one document (``lineage`` in the policy input):
        its base model resolved, its parent and whether it has a record, any cycle."""
        out: dict[str, Any] = {"base": self.base(name), "parent": None,
                               "cycle": self.cycle((name, version))}
        parent = self._parent((name, version)) if version is not None else None
        if isinstance(parent, tuple):
            out["parent"] = {"model": parent[0], "version": parent[1],
                             "exists": self.has_version(*parent)}
        return out


def _is_name(value: Any) -> bool:
    try:
        check_name(value)
        return True
    except (ModelregError, TypeError):
        return False


__all__ = ["RegistryIndex", "model_summary", "parent_of"]
