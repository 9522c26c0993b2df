"""``modelreg site OUT_DIR``: a static HTML catalog of the registry.

Self-contained: every page carries its CSS, script and pictures inline (SVG drawn here), and
a Content-Security-Policy that forbids any request, so it works from ``file://`` and from
GitHub Pages and nothing leaves the reader's machine. Every value from the registry is
escaped (jinja2 autoescaping, :func:`html.escape` in the SVG); model cards are rendered
with markdown-it-py with raw HTML disabled. The output is deterministic: the same registry
gives the same bytes (no build time; everything sorted).
"""
from __future__ import annotations

import datetime as _dt
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from modelreg.app.audit import audit
from modelreg.app.check import check
from modelreg.app.lineage import _records, lineage
from modelreg.app.read import list_models
from modelreg.core import cardtext, timefmt
from modelreg.core import stages as stagemod
from modelreg.core.errors import ModelregError
from modelreg.core.files import write_atomic
from modelreg.core.metrics import threshold_sign
from modelreg.render.audit import environment
from modelreg.store.config import RegistryConfig
from modelreg.store.registry import MODELS_DIR, Registry, semver_key

PALETTE = ("#2457c5", "#c2410c", "#15803d", "#7c3aed", "#be123c", "#0e7490", "#a16207",
           "#4b5563")


@dataclass(frozen=True)
class SiteResult:
    out_dir: Path
    pages: tuple[str, ...]        # relative paths of the pages written
    models: tuple[str, ...]


def build_site(registry: Registry, out_dir: str | Path, *, engine: str = "auto",
               now: _dt.datetime | str | None = None) -> SiteResult:
    """Write ``index.html`` and ``models/NAME.html`` for every model into ``out_dir``."""
    out = Path(out_dir)
    rows = list_models(registry)
    names = [r["name"] for r in rows]
    result = check(registry, engine=engine, now=now) if names else None
    records = _records(registry)
    env = environment("html", final_stage=registry.config.last_stage)
    pages: list[str] = []
    entries = []
    for row in rows:
        name = row["name"]
        report = audit(registry, name, check_result=result, engine=engine, now=now)
        stages_order = _stage_order(registry.config, report)
        entries.append({**row, "policy_ok": report["policy"]["ok"],
                        "errors": sum(1 for f in report["policy"]["findings"]
                                      if f["severity"] == "error"),
                        "eu_class": row.get("eu_ai_act_class"),
                        **_open_findings(report),
                        "search": " ".join(str(x) for x in (
                            name, row.get("title") or "", row.get("owner") or "",
                            row.get("eu_ai_act_class") or "")).lower()})
        focus = _focus_version(registry.config, report)
        graph = None
        if focus is not None and (name, focus) in records:

            graph = lineage(registry, name, focus, records=records)
        page = env.get_template("site_model.html.j2").render(
            r=report, row=row,
            card=_card_html(registry, name),
            timeline=_markup(timeline_svg(report, stages_order)),
            charts=[(ds, _markup(svg)) for ds, svg in metric_charts(report)],
            lineage=_markup(lineage_svg(graph)) if graph else None, focus=focus,
            versions=report["versions"])
        rel = f"models/{name}.html"
        write_atomic(out / rel, page)
        pages.append(rel)
    tiers = sorted({e["risk_tier"] for e in entries if isinstance(e.get("risk_tier"), int)})
    stages = sorted({s for e in entries for s in e["stages"]})
    index = env.get_template("site_index.html.j2").render(models=entries, tiers=tiers,
                                                          stages=stages)
    write_atomic(out / "index.html", index)
    write_atomic(out / ".nojekyll", "")
    pages.insert(0, "index.html")
    return SiteResult(out, tuple(pages), tuple(names))


def _open_findings(report: dict[str, Any]) -> dict[str, Any]:
    live = [f for f in report["validation_findings"] if f["status"] == "open"]
    return {"monitoring": report["monitoring"]["state"], "vf_open": len(live), "vf_high": sum(1 for f in live if f["severity"] == "high"),
            "vf_past_due": sum(1 for f in live if f["past_due"])}


def _markup(svg: str) -> Any:

    return Markup(svg)


def _stage_order(config: RegistryConfig, report: dict[str, Any]) -> list[str]:
    """The stages this model's history shows, in the configured order (stages the
    configuration no longer lists last)."""
    found = {i["stage"] for v in report["versions"] for i in v["stage_history"]}
    known = [s for s in config.stage_names if s in found]
    return known + sorted(found - set(known))


def _focus_version(config: RegistryConfig, report: dict[str, Any]) -> str | None:
    """The version whose lineage the page draws: the one in the latest stage held, else the
    latest version."""
    for stage in reversed(config.stage_names):
        if report["stages"].get(stage):
            return report["stages"][stage]
    with_record = [v["version"] for v in report["versions"] if v["record"]]
    return with_record[0] if with_record else None


# --- the card -------------------------------------------------------------------------
def _card_html(registry: Registry, name: str) -> Any:
    """The model card's Markdown as HTML; raw HTML in the card is shown as text."""
    from markdown_it import MarkdownIt  # noqa: PLC0415 - markdown-it costs ~34 ms; only the site needs it

    rel = f"{MODELS_DIR}/{name}/card.md"
    try:
        text = registry.read_bytes(rel).decode("utf-8", errors="replace")
    except ModelregError:
        return None
    text = cardtext.body(text)
    text = "\n".join(line for line in text.splitlines()
                     if not line.strip().startswith("<!-- modelreg:generated:"))
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    return Markup(md.render(text))


# --- pictures -------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def timeline_svg(report: dict[str, Any], stages: list[str]) -> str:
    """The stage history: one row per stage, one bar per version's stay in it, and the
    registrations as dots; time runs left to right up to the last recorded event."""
    intervals = [i for v in report["versions"] for i in v["stage_history"]]
    regs = [(v["version"], v["registration"]["time"]) for v in report["versions"]
            if v["registration"]]
    times = [timefmt.unix(e["time"]) for e in report["timeline"]]
    if not times:
        return ('<svg xmlns="http://www.w3.org/2000/svg" id="timeline-svg" class="timeline" '
                'width="600" height="40" role="img" aria-label="no stage history">'
                '<text x="0" y="24" fill="#5b6577">No registry events yet.</text></svg>')
    start, end = min(times), max(times)
    end = max(end, start + 86400)
    rows = list(stagemod.order(stages))
    left, width, row_h = 110, 760, 34
    height = 30 + row_h * len(rows) + 24

    def x(t: int) -> float:
        return round(left + (t - start) / (end - start) * width, 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline-svg" class="timeline" '
             f'viewBox="0 0 {left + width + 30} {height}" width="100%" role="img" '
             f'aria-label="stage history of {_e(report["model"])}">']
    for i, row in enumerate(rows):
        y = 20 + i * row_h
        parts.append(f'<text x="0" y="{y + 20}" font-size="13" fill="#1d2430">{_e(row)}</text>')
        parts.append(f'<line x1="{left}" y1="{y + row_h - 2}" x2="{left + width}" '
                     f'y2="{y + row_h - 2}" stroke="#e5e8ee"/>')
    versions = sorted({i["version"] for i in intervals} | {v for v, _ in regs}, key=semver_key)
    color = {v: PALETTE[n % len(PALETTE)] for n, v in enumerate(versions)}
    for v, when in regs:
        cx = x(timefmt.unix(when))
        parts.append(f'<circle cx="{cx}" cy="{20 + 14}" r="6" fill="{color[v]}">'
                     f'<title>{_e(v)} registered {_e(when)}</title></circle>')
        parts.append(f'<text x="{cx + 9}" y="{20 + 19}" font-size="12" fill="#1d2430">'
                     f'{_e(v)}</text>')
    for it in intervals:
        y = 20 + rows.index(it["stage"]) * row_h + 4
        x1 = x(timefmt.unix(it["entered"]))
        x2 = x(timefmt.unix(it["left"])) if it["left"] else left + width
        w = max(round(x2 - x1, 1), 4)
        end_text = it["left"] or "now"
        parts.append(f'<rect class="stay" x="{x1}" y="{y}" width="{w}" height="22" rx="4" '
                     f'fill="{color[it["version"]]}" fill-opacity="0.85"><title>'
                     f'{_e(it["version"])} in {_e(it["stage"])}: {_e(it["entered"])} → '
                     f'{_e(end_text)}</title></rect>')
        parts.append(f'<text x="{x1 + 6}" y="{y + 16}" font-size="12" fill="#fff">'
                     f'{_e(it["version"])}</text>')
    axis_y = 20 + row_h * len(rows) + 14
    for t, anchor in ((start, "start"), (end, "end")):
        day = timefmt.day(t)
        parts.append(f'<text x="{x(t)}" y="{axis_y}" font-size="11" fill="#5b6577" '
                     f'text-anchor="{anchor}">{day}</text>')
    parts.append("</svg>")
    return "".join(parts)


def metric_charts(report: dict[str, Any]) -> list[tuple[str, str]]:
    """One chart per dataset: each metric and slice across versions, thresholds dashed."""
    versions = [v for v in reversed(report["versions"]) if v["record"]]
    by_dataset: dict[str, dict[tuple[str, str], dict[str, float]]] = {}
    thresholds: dict[str, dict[tuple[str, str], tuple[float, str]]] = {}
    for v in versions:
        for m in v["metrics"]:
            if m["value"] is None:
                continue
            ds = m["dataset"] or "unspecified"
            key = (m["name"] or "?", m["slice"] or "overall")
            by_dataset.setdefault(ds, {}).setdefault(key, {})[v["version"]] = m["value"]
            if m["threshold"] is not None:
                thresholds.setdefault(ds, {})[key] = (m["threshold"], m["direction"] or "higher")
    order = [v["version"] for v in versions]
    return [(ds, _chart(ds, order, by_dataset[ds], thresholds.get(ds, {}), n))
            for n, ds in enumerate(sorted(by_dataset))]


def _chart(dataset: str, order: list[str], series: dict[tuple[str, str], dict[str, float]],
           thresholds: dict[tuple[str, str], tuple[float, str]], number: int) -> str:
    left, top, width, height = 56, 16, 520, 220
    values = [y for s in series.values() for y in s.values()] + \
        [t for t, _ in thresholds.values()]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    pad = (hi - lo) * 0.12
    lo, hi = lo - pad, hi + pad
    keys = sorted(series)
    legend_h = 18 * len(keys) + 8
    total_h = top + height + 34 + legend_h

    def px(i: int) -> float:
        return round(left + (width * (i + 0.5) / len(order)), 1)

    def py(value: float) -> float:
        return round(top + height - (value - lo) / (hi - lo) * height, 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-{number}" '
             f'viewBox="0 0 {left + width + 190} {total_h}" width="100%" role="img" '
             f'aria-label="metrics on {_e(dataset)} across versions">',
             f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="#fbfcfd" '
             f'stroke="#d8dde6"/>']
    for k in range(5):
        value = lo + (hi - lo) * k / 4
        y = py(value)
        parts.append(f'<line x1="{left}" y1="{y}" x2="{left + width}" y2="{y}" '
                     f'stroke="#eef1f5"/><text x="{left - 6}" y="{y + 4}" font-size="11" '
                     f'text-anchor="end" fill="#5b6577">{value:.3g}</text>')
    for i, v in enumerate(order):
        parts.append(f'<text x="{px(i)}" y="{top + height + 18}" font-size="12" '
                     f'text-anchor="middle" fill="#1d2430">{_e(v)}</text>')
    for n, key in enumerate(keys):
        color = PALETTE[n % len(PALETTE)]
        name = f"{key[0]}" + (f" [{key[1]}]" if key[1] != "overall" else "")
        if key in thresholds:
            t, direction = thresholds[key]
            y = py(t)
            op = threshold_sign(direction)
            parts.append(f'<line class="threshold" x1="{left}" y1="{y}" x2="{left + width}" '
                         f'y2="{y}" stroke="{color}" stroke-dasharray="6 4" stroke-width="1.5">'
                         f'<title>threshold {_e(name)} {op} {t:g}</title></line>')
        points = [(px(i), py(series[key][v]), v) for i, v in enumerate(order)
                  if v in series[key]]
        if len(points) > 1:
            path = " ".join(f"{a},{b}" for a, b, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                         f'stroke-width="2"/>')
        for a, b, v in points:
            parts.append(f'<circle cx="{a}" cy="{b}" r="4" fill="{color}"><title>'
                         f'{_e(name)} {_e(v)}: {series[key][v]:.4g}</title></circle>')
        ly = top + height + 40 + 18 * n
        legend = _e(name) + (f" (threshold {'≤' if thresholds[key][1] == 'lower' else '≥'} "
                             f"{thresholds[key][0]:g}, dashed)" if key in thresholds else "")
        parts.append(f'<rect x="{left}" y="{ly - 9}" width="12" height="12" fill="{color}"/>'
                     f'<text x="{left + 18}" y="{ly + 1}" font-size="12" fill="#1d2430">'
                     f'{legend}</text>')
    parts.append("</svg>")
    return "".join(parts)


def lineage_svg(graph: Any) -> str:
    """The lineage graph laid out by layers: datasets and code, then each version after
    what it was made from; edges as curves with arrows."""
    layers = graph.layers()
    columns: dict[int, list[Any]] = {}
    for node in graph.nodes:
        columns.setdefault(layers[node.id], []).append(node)
    box_w, box_h, gap_x, gap_y = 210, 46, 70, 16
    pos: dict[str, tuple[float, float]] = {}
    for col, nodes in sorted(columns.items()):
        for row, node in enumerate(nodes):
            pos[node.id] = (10 + col * (box_w + gap_x), 10 + row * (box_h + gap_y))
    width = 20 + (max(columns) + 1) * (box_w + gap_x) - gap_x
    height = 20 + max(len(n) for n in columns.values()) * (box_h + gap_y) - gap_y
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="lineage-svg" class="lineage" '
             f'viewBox="0 0 {width} {height}" width="{width}" role="img" '
             f'aria-label="lineage of {_e(graph.focus)}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
             'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
             '<path d="M0,0 L10,5 L0,10 z" fill="#5b6577"/></marker></defs>']
    for a, b, rel in graph.edges:
        (ax, ay), (bx, by) = pos[a], pos[b]
        x1, y1, x2, y2 = ax + box_w, ay + box_h / 2, bx, by + box_h / 2
        if bx <= ax:                               # same or earlier column: route around
            x1, x2 = ax + box_w / 2, bx + box_w / 2
            y1, y2 = ay + box_h, by
        mid = (x1 + x2) / 2
        parts.append(f'<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" '
                     f'fill="none" stroke="#8a94a6" stroke-width="1.4" '
                     f'marker-end="url(#arrow)"><title>{_e(rel)}</title></path>')
        parts.append(f'<text x="{mid}" y="{(y1 + y2) / 2 - 4}" font-size="10" '
                     f'text-anchor="middle" fill="#5b6577">{_e(rel)}</text>')
    styles = {"dataset": ("#eef4ff", "#2457c5"), "code": ("#f3f3f3", "#666"),
              "version": ("#ffffff", "#1d2430")}
    for node in graph.nodes:
        x, y = pos[node.id]
        fill, stroke = ("#fff3df", "#a15c00") if node.attrs.get("focus") else styles[node.kind]
        sub = {"dataset": f"sha256 {str(node.attrs.get('sha256') or 'unknown')[:16]}",
               "code": "training code" + (" (dirty)" if node.attrs.get("dirty") else ""),
               "version": "this version" if node.attrs.get("focus") else
               ("model version" if node.attrs.get("record") else "no record here")}[node.kind]
        label = node.label if len(node.label) <= 30 else node.label[:29] + "…"
        parts.append(f'<g class="node {node.kind}"><title>{_e(node.key)}</title>'
                     f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" '
                     f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
                     f'<text x="{x + 10}" y="{y + 19}" font-size="13" fill="#1d2430">'
                     f'{_e(label)}</text><text x="{x + 10}" y="{y + 36}" font-size="11" '
                     f'fill="#5b6577">{_e(sub)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["build_site", "SiteResult", "timeline_svg", "metric_charts", "lineage_svg"]
