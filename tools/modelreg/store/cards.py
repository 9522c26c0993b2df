"""Model cards: ``models/NAME/card.md`` rendered from the model's metadata, prose kept.

The card is Hugging Face's format (YAML front matter, then Markdown) with the fixed ``##``
sections of Mitchell et al.'s model cards and Hugging Face's card template, plus those the
EU AI Act asks of high-risk models (Art. 9, 12-14). It comes from a jinja2 template: the one
shipped in ``modelreg/templates/card.md.j2``, or ``templates/card.md.j2`` of the registry
when that file exists. The template is read through a registry view: ``check`` renders with
the base revision's template (a pull request cannot change the template it is judged by,
docs/policies.md#who-judges-a-pull-request). In each section, what the metadata says sits between two markers::

    <!-- modelreg:generated:start -->
    ... regenerated on every render ...
    <!-- modelreg:generated:end -->
    ... the author's prose, kept verbatim ...

The front matter's Hugging Face keys are regenerated too; keys an author adds are kept, and
so are sections an author adds (after the fixed ones). A card is *stale* when rendering it
again would change it (CARD-04, judged here for ``check`` and ``card --check``; the other
card rules live only in policies/card.rego). Nothing here prints; jinja2 is imported only
when a card is rendered.
"""
from __future__ import annotations

import contextlib
import json
import re
import shlex
import signal
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from modelreg.core import cardtext
from modelreg.core.errors import CannotRunError, InputError
from modelreg.core.files import write_atomic
from modelreg.core.metrics import meets_threshold, threshold_sign
from modelreg.core.records import Finding
from modelreg.core.yamlio import MAX_BYTES, dump_yaml, read_text
from modelreg.store.cache import Store, digest, release_salt
from modelreg.store.defaults import TEMPLATES_DIR
from modelreg.store.registry import MODELS_DIR, Registry, check_name, semver_key

if TYPE_CHECKING:

    pass

TEMPLATE = "card.md.j2"
OVERRIDE_DIR = "templates"            # the registry's templates/card.md.j2 replaces ours
START = "<!-- modelreg:generated:start -->"
END = "<!-- modelreg:generated:end -->"
PLACEHOLDER = "[More Information Needed]"   # Hugging Face's card template uses the same
STALE_RULE = "CARD-04"
CARD_RULES = "CARD-"               # the card policy's rule ids (policies/card.rego)
# A registry view, or the root of a work tree, whose templates/ a card is rendered with.
Templates = Registry | Path | str

# The fixed sections, in card order (docs/policies.md#model-cards; policies/data/cards.yaml
# requires them by these exact headings; policies/card.rego judges them).
SECTIONS = (
    "Model Details", "Intended Use", "Out-of-Scope Use", "Training Data", "Evaluation Data",
    "Factors", "Metrics", "Quantitative Analyses", "Bias, Risks and Limitations",
    "Recommendations", "Ethical Considerations", "Human Oversight", "Risk Management",
    "Monitoring and Maintenance", "Logging", "Technical Specifications", "How to Get Started",
    "Changelog", "Model Card Contact",
)
# Front matter keys the renderer owns: regenerated (or dropped) on every render.
MANAGED_KEYS = ("license", "license_name", "license_link", "library_name", "pipeline_tag",
                "tags", "datasets", "base_model", "base_model_relation", "model-index")
# The Hub's licence ids (hub-docs, "Licenses"); any other licence is `license: other` with
# `license_name` (a lower-case slug) and `license_link`.
HUB_LICENSES = frozenset("""
    apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause
    bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0
    cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
    cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
    cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
    eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research
    intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openrail++ osl-3.0
    postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 llama3
    llama3.1 llama3.2 llama3.3 llama4 gemma unknown
    """.split())
# Registry metric names whose Hub metric id (the `evaluate` library's) is another, with the
# arguments that make them the same measurement; other names are Hub ids already (accuracy,
# roc_auc, f1, mse…) or are kept as they are.
HUB_METRICS: dict[str, tuple[str, dict[str, Any]]] = {
    "auc": ("roc_auc", {}), "auroc": ("roc_auc", {}), "roc_auc_ovr": ("roc_auc", {"multi_class": "ovr"}),
    "roc_auc_ovo": ("roc_auc", {"multi_class": "ovo"}), "rmse": ("mse", {"squared": False}),
    "r2": ("r_squared", {}), "mcc": ("matthews_correlation", {}), "brier": ("brier_score", {}),
}
_AVERAGED = re.compile(r"^(f1|precision|recall)_(macro|micro|weighted|binary|samples)$")
_SLUG = re.compile(r"[^a-z0-9.-]+")
_ENTITY_RE = re.compile(r"&(?=#?[0-9A-Za-z]+;)")


def card_path(name: str) -> str:
    """The card's path relative to the registry root."""
    return f"{MODELS_DIR}/{check_name(name)}/card.md"


@dataclass(frozen=True)
class Rendered:
    """A rendered card, and the card on disk it was merged with (None when there is none)."""

    name: str
    path: str
    text: str
    front_matter: dict[str, Any]
    current: str | None

    @property
    def stale(self) -> bool:
        return self.current != self.text


# --- the public API ---------------------------------------------------------------------
def render(registry: Registry, name: str) -> Rendered:
    """Render ``name``'s card from its model.yaml and version records, keeping the prose of
    the card on disk. Raises :class:`InputError` for a card that cannot be merged (broken
    front matter or markers) and :class:`CannotRunError` for a template error."""
    model = registry.model(name)
    versions = {v: registry.version(name, v).data for v in registry.version_names(name)}
    rel = card_path(name)
    path = registry.root / rel
    current = read_text(path, display=rel) if registry.exists(rel) else None
    text, front = render_text(registry, name, model.data, versions, current, display=rel)
    return Rendered(name, rel, text, front, current)


def write(registry: Registry, name: str) -> Rendered:
    """Render ``name``'s card and write it (atomically) when it changed."""
    rendered = render(registry, name)
    if rendered.stale:
        write_atomic(registry.root / rendered.path, rendered.text)
    return rendered


def stale_findings(judge: Templates, name: str, text: str, model: dict[str, Any],
                   versions: dict[str, dict[str, Any]]) -> list[Finding]:
    """The CARD-04 finding for ``modelreg check`` when the card on disk (``text``) is not what
    rendering it again with ``judge``'s template gives (the work tree, or the revision whose
    rules judge a pull request); the metadata comes already loaded by the caller."""
    rel = card_path(name)
    judge = _view(judge)
    cache, key = _freshness_cache(judge, text, model, versions)
    known = cache.get(key)
    if known is True:
        return []          # rendered from exactly these inputs before, and it was up to date
    if isinstance(known, int) and not isinstance(known, bool):
        # rendered from exactly these inputs before: stale, first differing at that line
        return [Finding(rel, STALE_RULE, f"card is stale: run modelreg card {name} --write",
                        line=known, model=name)]
    try:
        fresh, _ = render_text(judge, name, model, versions, text, display=rel)
    except InputError as exc:          # a bound of the sandbox: judged again every time
        return [Finding(rel, STALE_RULE, f"card cannot be re-rendered: {exc.message}",
                        line=exc.line, model=name)]
    if fresh != text:
        found = stale_finding(name, rel, text, fresh)
        cache.put(key, found.line)
        return [found]
    cache.put(key, True)
    return []


def save_caches() -> None:
    """Write the freshness caches back (once per command, not once per card)."""
    for cache in _CACHES.values():
        cache.save()


_CACHES: dict[str, Any] = {}


def _freshness_cache(judge: Registry, text: str, model: dict[str, Any],
                     versions: dict[str, dict[str, Any]]) -> tuple[Any, str]:
    """Rendering a card costs ~10 ms: remember what the (card, records, template) inputs
    gave — up to date, or stale from which line — keyed by their content and the releases
    of modelreg and jinja2 (store/cache.py's :class:`Store`, ``cards``: the processes of a
    big ``check`` write it at once)."""
    root = str(judge.root)
    cache = _CACHES.get(root)
    if cache is None:
        cache = _CACHES[root] = Store(Path(root), "cards")
    override = f"{OVERRIDE_DIR}/{TEMPLATE}"
    template = judge.read_bytes(override) if judge.is_file(override) else \
        (TEMPLATES_DIR / TEMPLATE).read_bytes()
    # in the records' own key order: the same bytes give the same text (a reordered record
    # only misses)
    blob = json.dumps([text, model, versions], default=str).encode()
    return cache, digest(release_salt(), _jinja_release(), blob, template)


@lru_cache(maxsize=1)
def _jinja_release() -> str:
    import jinja2  # noqa: PLC0415 - imported by the renderer anyway

    return f"jinja2={jinja2.__version__}"


def render_text(templates: Templates, name: str, model: dict[str, Any],
                versions: dict[str, dict[str, Any]], current: str | None = None,
                display: str = "card.md") -> tuple[str, dict[str, Any]]:
    """The card text and its front matter, from metadata already loaded, merged with the
    ``current`` card text (``display`` names it in errors). ``templates`` is the registry
    view (or the root of the work tree) whose ``templates/card.md.j2`` is used, if any."""
    model = model if isinstance(model, dict) else {}
    order = sorted(versions, key=_semver_key)
    records = [versions[v] if isinstance(versions[v], dict) else {} for v in order]
    front = front_matter(name, model, records)
    context = _context(name, model, order, records, front)
    template_name, output = _render_template(_view(templates), context)
    try:
        fresh = _parse(output, template_name)
    except InputError as exc:
        raise CannotRunError(f"card template {template_name} gives a card that cannot be "
                             f"parsed: {exc}", hint=_TEMPLATE_HINT) from None
    if current is None:
        merged = fresh
    else:
        merged = _merge(fresh, _parse(current, display))
    return _compose(merged), merged.front


def front_matter(name: str, model: dict[str, Any], records: list[dict[str, Any]]
                 ) -> dict[str, Any]:
    """Hugging Face card metadata (hub-docs model-cards: license, library_name, pipeline_tag,
    tags, datasets, base_model, model-index) from model.yaml and the version records,
    oldest first; results come from the latest version."""
    out: dict[str, Any] = {}
    lic = model.get("license")
    if isinstance(lic, str) and lic:
        if lic.lower() in HUB_LICENSES:
            out["license"] = lic.lower()        # the Hub's licence ids are lower case SPDX
        else:
            out["license"] = "other"
            # a licence id that is not the Hub's is its own name; `other` is named in model.yaml
            named = model.get("license_name") if lic.lower() == "other" else lic
            slug = _SLUG.sub("-", named.lower()).strip("-.") if isinstance(named, str) else ""
            if slug:
                out["license_name"] = slug
            if isinstance(model.get("license_link"), str) and model["license_link"]:
                out["license_link"] = model["license_link"]
    for key, source in (("library_name", "library_name"), ("pipeline_tag", "task")):
        if isinstance(model.get(source), str) and model[source]:
            out[key] = model[source]
    tags = [t for t in _list(model.get("tags")) if isinstance(t, str)]
    if tags:
        out["tags"] = tags
    # Every version's datasets, latest first: CARD-02 checks each version against the card.
    datasets: list[str] = []
    for record in reversed(records):
        for d in _list(record.get("datasets")):
            if isinstance(d, dict) and isinstance(d.get("id"), str) and d["id"] not in datasets:
                datasets.append(d["id"])
    if datasets:
        out["datasets"] = datasets
    base = _dict(model.get("base_model"))
    if isinstance(base.get("id"), str):
        out["base_model"] = base["id"]
        if isinstance(base.get("relation"), str):
            out["base_model_relation"] = base["relation"]
    if records and isinstance(model.get("task"), str):
        results = _model_index_results(model["task"], records[-1])
        if results:
            out["model-index"] = [{"name": name, "results": results}]
    return out


# --- the template -----------------------------------------------------------------------
_TEMPLATE_HINT = ("fix the template, or delete templates/card.md.j2 to use the one shipped "
                  "with modelreg")


def _render_template(judge: Registry, context: dict[str, Any]) -> tuple[str, str]:
    import jinja2  # noqa: PLC0415 - jinja2 costs ~36 ms; only rendering needs it

    override = f"{OVERRIDE_DIR}/{TEMPLATE}"
    display = override if judge.is_file(override) else f"modelreg/templates/{TEMPLATE}"
    env = _environment(judge)
    try:
        template = env.get_template(TEMPLATE)
        return display, _bounded_render(template, context, display)
    except (RenderBoundError, OverflowError, MemoryError, RecursionError) as exc:
        # past a bound (ours, or the sandbox's on range()): the template's fault, a finding
        why = str(exc) if isinstance(exc, RenderBoundError) else f"{type(exc).__name__}: {exc}"
        raise InputError(f"card template {display} cannot be rendered: {why}",
                         hint=_TEMPLATE_HINT) from None
    except jinja2.TemplateSyntaxError as exc:
        raise CannotRunError(f"card template error: {exc.message}", file=display,
                             line=exc.lineno, hint=_TEMPLATE_HINT) from None
    except Exception as exc:  # noqa: BLE001 - anything a template does wrong stops the render
        line = None
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename and frame.filename.endswith(TEMPLATE):
                line = frame.lineno
        raise CannotRunError(f"card template error: {type(exc).__name__}: {exc}",
                             file=display, line=line, hint=_TEMPLATE_HINT) from None


# A registry's template comes in through pull requests and every later check renders it, so
# a render is bounded: the card it writes (a card is read back with the size limit of every
# registry file) and the time it takes. A common card renders in a few milliseconds.
MAX_CARD_BYTES = MAX_BYTES
RENDER_SECONDS = 5.0
MAX_OPERAND = 1_000_000      # longest string or list ``*`` may build, largest ``**`` result (bits)


class RenderBoundError(Exception):
    """A template exceeded the size or time bound of a render."""


def _bounded_render(template: Any, context: dict[str, Any], display: str) -> str:
    """Render chunk by chunk, stopping past ``MAX_CARD_BYTES`` or ``RENDER_SECONDS``."""
    parts: list[str] = []
    size = 0
    with _time_bound(RENDER_SECONDS):
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_CARD_BYTES:
                raise RenderBoundError(f"the card would be larger than {MAX_CARD_BYTES} bytes")
            parts.append(chunk)
    return "".join(parts)


@contextlib.contextmanager
def _time_bound(seconds: float) -> Iterator[None]:
    """Raise :class:`RenderBoundError` in the rendering code after ``seconds``.

    In the main thread a timer signal interrupts the render wherever it is (a loop that emits
    nothing included) at no cost to a render that finishes. Elsewhere (signals reach only the
    main thread), or when the process's timer is already in use, the template's own frames
    are traced and the clock read every thousand lines: slower, but still bounded."""
    def expired() -> RenderBoundError:
        return RenderBoundError(f"rendering took longer than {seconds:g} s (a loop that does "
                                "not end, or one that is too large)")

    if (threading.current_thread() is threading.main_thread()
            and hasattr(signal, "setitimer")
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)):
        def on_alarm(signum: int, frame: Any) -> None:
            raise expired()

        previous = signal.signal(signal.SIGALRM, on_alarm)
        # and again every 50 ms, should code the template calls swallow the first one
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        return
    deadline = time.monotonic() + seconds
    steps = [0]

    def local(frame: Any, event: str, arg: Any) -> Any:
        steps[0] += 1
        if steps[0] % 1000 == 0 and time.monotonic() > deadline:
            raise expired()
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        # only the template's compiled code is traced, line by line
        return local if frame.f_code.co_filename.endswith(".j2") else None

    previous_trace = sys.gettrace()
    sys.settrace(calls)
    try:
        yield
    finally:
        sys.settrace(previous_trace)


def _operand_size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else 0


def _view(templates: Templates) -> Registry:
    return templates if isinstance(templates, Registry) else Registry(Path(templates))


_ENVIRONMENTS: OrderedDict[tuple[str, str | None], Any] = OrderedDict()


def _environment(judge: Registry) -> Any:
    """One sandboxed jinja2 environment per registry view (a work tree, or one revision): a
    registry's template comes in through pull requests and CI renders it, so it must not
    reach Python internals."""
    key = (str(judge.root), judge.rev)
    env = _ENVIRONMENTS.get(key)
    if env is None:
        env = _ENVIRONMENTS[key] = _new_environment(judge)
        while len(_ENVIRONMENTS) > 8:
            _ENVIRONMENTS.popitem(last=False)
    return env


def _loader(judge: Registry) -> Any:
    """Templates by name: the view's ``templates/NAME`` when it has one, else the shipped
    one. Each answer says how to tell it is out of date, so an edit of the work tree's
    template (or its removal) is seen by the next render in the same process."""
    import jinja2

    def load(name: str) -> tuple[str, str, Any] | None:
        if name.startswith("/") or ".." in name.split("/"):
            return None
        rel = f"{OVERRIDE_DIR}/{name}"
        if judge.is_file(rel):
            raw = judge.read_bytes(rel)
            return (raw.decode("utf-8", errors="replace"), rel,
                    lambda: judge.is_file(rel) and judge.read_bytes(rel) == raw)
        shipped = TEMPLATES_DIR / name
        if shipped.is_file():
            raw = shipped.read_bytes()
            return (raw.decode("utf-8"), str(shipped),
                    lambda: not judge.is_file(rel) and shipped.read_bytes() == raw)
        return None

    return jinja2.FunctionLoader(load)


def _new_environment(judge: Registry) -> Any:
    import jinja2  # noqa: PLC0415 - jinja2 costs ~36 ms; only rendering needs it
    from jinja2.sandbox import SandboxedEnvironment  # noqa: PLC0415 - as jinja2 above

    def finalize(value: Any) -> Any:
        if isinstance(value, Markup):
            return str(value)
        if value is None or isinstance(value, jinja2.Undefined):
            return ""
        return md(value)

    class Bounded(SandboxedEnvironment):
        """The sandbox, with ``*`` and ``**`` unable to build huge values in one step."""

        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                count = right if isinstance(right, int) else left if isinstance(left, int) \
                    else 0
                if max(_operand_size(left), _operand_size(right), 1) * abs(count) \
                        > MAX_OPERAND and (_operand_size(left) or _operand_size(right)):
                    raise RenderBoundError(f"a repeated value longer than {MAX_OPERAND}")
            if operator == "**" and isinstance(left, int) and isinstance(right, int) \
                    and right > 0 and abs(left) > 1 \
                    and abs(left).bit_length() * right > MAX_OPERAND:
                raise RenderBoundError(f"a power larger than {MAX_OPERAND} bits")
            return super().call_binop(context, operator, left, right)

    env = Bounded(
        loader=_loader(judge), undefined=jinja2.ChainableUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        autoescape=False, finalize=finalize)
    env.filters.update(
        code=lambda v: Markup(code(v)), cell=lambda v: Markup(cell(v)),
        join_md=lambda v: Markup(", ".join(md(x) for x in _list(v)) if isinstance(v, list)
                                 else md(v) if v else ""),
        aslist=_list, items=lambda v: list(v.items()) if isinstance(v, dict) else [],
        shell=lambda v: Markup(shlex.quote(str(v)).replace("\n", "\\n").replace("\r", "\\r")))
    return env


def md(value: Any) -> str:
    """Text for Markdown: one line (no heading, list or marker can be injected), and no
    HTML: ``<`` and ``>`` and a ``&`` that would start an entity are escaped."""
    text = " ".join(str(value).split())
    text = _ENTITY_RE.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    return "\\" + text if text.startswith("#") else text


def code(value: Any) -> str:
    """An inline code span: its content is shown as text, never rendered as HTML."""
    text = " ".join(str(value).split())
    ticks = "`"
    while ticks in text:
        ticks += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def cell(value: Any) -> str:
    """A table cell: escaped like :func:`md` (code spans kept), pipes escaped."""
    text = str(value) if isinstance(value, Markup) else md("" if value is None else value)
    return text.replace("|", "\\|")


# --- the context the template sees ------------------------------------------------------
def _context(name: str, model: dict[str, Any], order: list[str],
             records: list[dict[str, Any]], front: dict[str, Any]) -> dict[str, Any]:

    versions = [_version_context(model, v, r) for v, r in zip(order, records)]
    return {
        "name": name,
        "model": model,
        "front_matter": Markup(dump_yaml(front) if front else ""),
        "latest": versions[-1] if versions else None,
        "versions": list(reversed(versions)),          # newest first, for the changelog
    }


def _version_context(model: dict[str, Any], version: str, r: dict[str, Any]) -> dict[str, Any]:
    datasets = [d for d in _list(r.get("datasets")) if isinstance(d, dict)]
    rows = [_dataset_row(d) for d in datasets]
    who = _dict(r.get("registered_by"))
    parent = _dict(r.get("parent"))
    training = _dict(r.get("training"))
    env = _dict(r.get("environment"))
    software = [f"python {env['python']}"] if env.get("python") else []
    software += [f"{k} {v}" for k, v in _dict(env.get("packages")).items()]
    if env.get("image"):
        software.append(f"image {env['image']}")
    validation = _dict(r.get("validation"))
    val_text = ""
    if validation:
        val_text = (f"{validation.get('outcome', '?')} by {validation.get('validator', '?')} "
                    f"on {validation.get('validated_at', '?')}")
        if validation.get("next_review_due"):
            val_text += f", next review due {validation['next_review_due']}"
    metrics = [m for m in _list(r.get("metrics")) if isinstance(m, dict)]
    factors: dict[str, list[str]] = {}
    for m in metrics:
        s = m.get("slice")
        if isinstance(s, str) and s != "overall":
            for part in s.split(","):
                attr, _, value = part.partition("=")
                factors.setdefault(attr, [])
                if value not in factors[attr]:
                    factors[attr].append(value)
    names: list[str] = []
    for m in metrics:
        if m.get("name") not in names:
            names.append(m.get("name"))
    return {
        "version": version,
        "created_at": r.get("created_at"),
        "registered_by": who.get("name"),
        "message": r.get("message"),
        "change_summary": r.get("change_summary"),
        "previous_version": r.get("previous_version"),
        "parent": f"{parent.get('model')}@{parent.get('version')}" if parent else None,
        "artifacts": [a for a in _list(r.get("artifacts")) if isinstance(a, dict)],
        "code": _dict(r.get("code")),
        "training": training,
        "hyperparameters": list(_dict(training.get("hyperparameters")).items()),
        "environment": software,
        "io": _dict(r.get("io")),
        "train_datasets": [row for row in rows if row["role"] == "train"],
        "eval_datasets": [row for row in rows if row["role"] != "train"],
        "personal_data": [d.get("id") for d in datasets if d.get("contains_personal_data")],
        "factors": list(factors.items()),
        "metric_names": [n for n in names if n is not None],
        "results": _results(metrics, datasets),
        "limitations": _list(r.get("limitations")),
        "known_issues": _list(r.get("known_issues")),
        "validation": val_text,
    }


def _dataset_row(d: dict[str, Any]) -> dict[str, Any]:
    personal = d.get("contains_personal_data")
    return {"id": d.get("id"), "revision": d.get("revision"), "role": d.get("role"),
            "rows": d.get("rows", ""), "sha256": d.get("sha256", ""),
            "personal": "yes" if personal is True else "no" if personal is False
            else "not recorded"}


def _groups(metrics: list[dict[str, Any]]) -> list[tuple[tuple[Any, Any], list[dict]]]:
    """Metric rows grouped by (dataset, split), in the order they first appear."""
    groups: dict[tuple[Any, Any], list[dict]] = {}
    for m in metrics:
        groups.setdefault((m.get("dataset"), m.get("split")), []).append(m)
    return list(groups.items())


def _revision(m: dict[str, Any], datasets: list[dict[str, Any]]) -> Any:
    if m.get("revision") is not None:
        return m["revision"]
    return next((d.get("revision") for d in datasets if d.get("id") == m.get("dataset")), None)


def _met(m: dict[str, Any]) -> str:
    return {True: "yes", False: "NO", None: "–"}[meets_threshold(m)]


def _results(metrics: list[dict[str, Any]], datasets: list[dict[str, Any]]) -> list[dict]:
    out = []
    for (dataset, split), rows in _groups(metrics):
        table = []
        for m in rows:
            value = m.get("value")
            ci = _dict(m.get("ci"))
            if "lower" in ci and "upper" in ci:
                level = f"{round(ci['level'] * 100)}% " if isinstance(ci.get("level"), float) \
                    else ""
                value = f"{value} ({level}CI {ci['lower']}–{ci['upper']})"
            threshold = m.get("threshold")
            if threshold is not None:
                threshold = f"{threshold_sign(m.get('direction'))} {threshold}"
            table.append({"metric": m.get("name"), "slice": m.get("slice"), "value": value,
                          "threshold": threshold if threshold is not None else "–",
                          "met": _met(m)})
        out.append({"dataset": dataset, "split": split,
                    "revision": _revision(rows[0], datasets), "rows": table})
    return out


def hub_metric(name: str) -> tuple[str, dict[str, Any]]:
    """The Hub's metric id for a registry metric name, and its ``args``
    (``f1_macro`` → ``f1`` with ``{average: macro}``, ``auc`` → ``roc_auc``)."""
    if name in HUB_METRICS:
        hub, args = HUB_METRICS[name]
        return hub, dict(args)
    m = _AVERAGED.match(name)
    if m:
        return m.group(1), {"average": m.group(2)}
    return name, {}


def _model_index_results(task: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """``model-index`` results: one per dataset, split and slice. ``dataset.type`` is the
    dataset's id, a slice is the dataset's ``config`` (a subset of that split), each metric's
    ``type`` is the Hub's metric id with its ``args``, and ``name`` the registry's name."""
    datasets = [d for d in _list(record.get("datasets")) if isinstance(d, dict)]
    metrics = [m for m in _list(record.get("metrics")) if isinstance(m, dict)
               and isinstance(m.get("name"), str) and isinstance(m.get("value"), (int, float))
               and not isinstance(m.get("value"), bool) and isinstance(m.get("dataset"), str)]
    groups: dict[tuple[Any, Any, Any], list[dict[str, Any]]] = {}
    for m in metrics:
        piece = m.get("slice") if isinstance(m.get("slice"), str) else "overall"
        groups.setdefault((m["dataset"], m.get("split"), piece), []).append(m)
    results = []
    for (dataset, split, piece), rows in groups.items():
        ds: dict[str, Any] = {"type": dataset, "name": dataset}
        if piece != "overall":
            ds["config"] = piece
        if isinstance(split, str):
            ds["split"] = split
        revision = _revision(rows[0], datasets)
        if revision is not None:
            ds["revision"] = str(revision)
        entries = []
        for m in rows:
            hub, args = hub_metric(m["name"])
            entry: dict[str, Any] = {"type": hub, "value": m["value"], "name": m["name"]}
            if args:
                entry["args"] = args
            entries.append(entry)
        results.append({"task": {"type": task}, "dataset": ds, "metrics": entries})
    return results


# --- parsing and merging ----------------------------------------------------------------
@dataclass
class _Section:
    title: str                      # "" for what comes before the first section
    line: int                       # the heading's line (1-based)
    before: list[str] = field(default_factory=list)
    generated: list[str] | None = None
    after: list[str] = field(default_factory=list)


@dataclass
class _Card:
    front: dict[str, Any]
    sections: list[_Section]


def _parse(text: str, display: str) -> _Card:
    """Split a card into front matter and sections, each with its generated block."""
    front, parts = cardtext.sections(text, display)
    seen: dict[str, int] = {}
    sections = []
    for part in parts:
        if part.title in seen:
            raise InputError(f"section '## {part.title}' appears twice (lines "
                             f"{seen[part.title]} and {part.line})", file=display,
                             line=part.line, hint="merge the two sections into one")
        if part.title:
            seen[part.title] = part.line
        section = _Section(part.title, part.line)
        _split_generated(section, list(part.lines), display)
        sections.append(section)
    return _Card(front, sections)


def _split_generated(section: _Section, body: list[tuple[int, str]], display: str) -> None:
    start = next((i for i, (_, ln) in enumerate(body) if ln.strip() == START), None)
    end = next((i for i, (_, ln) in enumerate(body)
                if ln.strip() == END and (start is None or i > start)), None)
    lines = [ln for _, ln in body]
    if start is None:
        if end is not None:
            raise InputError("generated-block end marker without a start marker",
                             file=display, line=body[end][0],
                             hint=f"put {START} before the generated text, or remove the "
                                  "end marker")
        section.after = _trim(lines)       # no markers: all of it is the author's
        return
    if end is None:
        raise InputError("generated block is never closed", file=display,
                         line=body[start][0], hint=f"add {END} after the generated text")
    section.before = _trim(lines[:start])
    section.generated = _trim(lines[start + 1:end])
    section.after = _trim(lines[end + 1:])


def _trim(lines: list[str]) -> list[str]:
    lo, hi = 0, len(lines)
    while lo < hi and not lines[lo].strip():
        lo += 1
    while hi > lo and not lines[hi - 1].strip():
        hi -= 1
    return [ln.rstrip() for ln in lines[lo:hi]]


def _merge(fresh: _Card, old: _Card) -> _Card:
    """Fresh generated blocks and front matter keys; the old card's prose, extra keys and
    extra sections."""
    owned = set(MANAGED_KEYS) | set(fresh.front)
    front = dict(fresh.front)
    front.update({k: v for k, v in old.front.items() if k not in owned})
    by_title = {s.title: s for s in old.sections}
    sections = []
    for s in fresh.sections:
        o = by_title.get(s.title)
        if o is None:
            sections.append(s)
        elif o.generated is None:       # a hand-written section: generated part first
            sections.append(_Section(s.title, s.line, [], s.generated, o.before + o.after))
        else:
            sections.append(_Section(s.title, s.line, o.before, s.generated, o.after))
    titles = {s.title for s in fresh.sections}
    sections += [o for o in old.sections if o.title not in titles]
    return _Card(front, sections)


def _compose(card: _Card) -> str:
    out = ["---", dump_yaml(card.front).rstrip("\n") if card.front else "", "---", ""]
    if not card.front:
        out.pop(1)
    for s in card.sections:
        parts = ["\n".join(s.before)] if s.before else []
        if s.generated is not None:
            parts.append("\n".join([START, *s.generated, END]))
        if s.after:
            parts.append("\n".join(s.after))
        if s.title:
            out += [f"## {s.title}", ""]
        if parts:
            out += ["\n\n".join(parts), ""]
    return "\n".join(out).rstrip("\n") + "\n"


# --- check ------------------------------------------------------------------------------
def stale_finding(name: str, rel: str, current: str, fresh: str) -> Finding:
    a, b = current.split("\n"), fresh.split("\n")
    line = next((i + 1 for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return Finding(rel, STALE_RULE, f"card is stale: run modelreg card {name} --write",
                   line=line, model=name)


# --- small helpers ----------------------------------------------------------------------
def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _semver_key(version: str) -> Any:

    try:
        return (0, semver_key(version))
    except ValueError:
        return (1, version)


def sections_of(text: str, display: str = "card.md") -> Iterable[str]:
    """The ``##`` headings of a card, in order (for tests and tools)."""
    return [s.title for s in _parse(text, display).sections if s.title]


__all__ = ["Rendered", "render", "write", "stale_findings", "stale_finding", "render_text",
           "front_matter", "card_path", "sections_of", "SECTIONS", "START", "END",
           "PLACEHOLDER", "md", "code", "cell"]
