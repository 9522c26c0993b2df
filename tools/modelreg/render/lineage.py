"""A lineage graph (app/lineage.py) as Mermaid, Graphviz DOT or versioned JSON. Node ids are
generated (``n0``, ``n1``…) and every label is escaped, so no text in a record can inject
syntax into either language."""
from __future__ import annotations

import json

from modelreg.app.lineage import Graph, Node
from modelreg.core.errors import UsageError

FORMATS = ("mermaid", "dot", "json")


def render(graph: Graph, fmt: str) -> str:
    if fmt == "json":

        return json.dumps(graph.to_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "mermaid":
        return to_mermaid(graph)
    if fmt == "dot":
        return to_dot(graph)
    raise UsageError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")


def _lines(node: Node) -> list[str]:
    lines = [node.label]
    if node.kind == "dataset" and node.attrs.get("sha256"):
        lines.append(f"sha256 {str(node.attrs['sha256'])[:12]}")
    if node.kind == "code" and node.attrs.get("dirty"):
        lines.append("dirty work tree")
    return lines


def _mermaid_text(text: str) -> str:
    # Mermaid entity codes: no quote, bracket or tag can leave the label.
    out = " ".join(str(text).split()).replace("#", "#35;")     # first: the codes use '#'
    for ch, code in (("&", "#38;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"),
                     ("`", "#96;"), ("|", "#124;")):
        out = out.replace(ch, code)
    return out


def to_mermaid(graph: Graph) -> str:
    out = ["flowchart LR"]
    for n in graph.nodes:
        label = "<br/>".join(_mermaid_text(x) for x in _lines(n))
        shape = ('[("', '")]') if n.kind == "dataset" else ('{{"', '"}}') \
            if n.kind == "code" else ('["', '"]')
        out.append(f"  {n.id}{shape[0]}{label}{shape[1]}")
    for a, b, rel in graph.edges:
        out.append(f"  {a} -->|{_mermaid_text(rel)}| {b}")
    for kind in ("dataset", "code", "version"):
        ids = [n.id for n in graph.nodes if n.kind == kind]
        if ids:
            out.append(f"  class {','.join(ids)} {kind}")
    focus = [n.id for n in graph.nodes if n.attrs.get("focus")]
    out.append("  classDef dataset fill:#eef4ff,stroke:#2457c5")
    out.append("  classDef code fill:#f3f3f3,stroke:#666")
    out.append("  classDef version fill:#fff,stroke:#1d2430")
    out.append("  classDef focus fill:#fff3df,stroke:#a15c00,stroke-width:2px")
    out.append(f"  class {','.join(focus)} focus")
    return "\n".join(out) + "\n"


def _dot_text(text: str) -> str:
    return " ".join(str(text).split()).replace("\\", "\\\\").replace('"', '\\"')


def to_dot(graph: Graph) -> str:
    out = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    shapes = {"dataset": "cylinder", "code": "component", "version": "box"}
    for n in graph.nodes:
        label = "\\n".join(_dot_text(x) for x in _lines(n))
        style = ', style="bold,filled", fillcolor="#fff3df"' if n.attrs.get("focus") else ""
        out.append(f'  {n.id} [label="{label}", shape={shapes[n.kind]}{style}];')
    for a, b, rel in graph.edges:
        out.append(f'  {a} -> {b} [label="{_dot_text(rel)}"];')
    out.append("}")
    return "\n".join(out) + "\n"


__all__ = ["render", "to_mermaid", "to_dot", "FORMATS"]
