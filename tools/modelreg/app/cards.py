"""``modelreg card``: render or write a model's card (store/cards.py does the rendering, shared
with ``register`` and ``check``), or ``--check`` it: the card's findings exactly as
``modelreg check`` gives them."""
from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Sequence

from modelreg.core.errors import InputError
from modelreg.core.records import Finding, Report
from modelreg.policy.engines import Engine
from modelreg.policy.evaluate import evaluate
from modelreg.store.cards import (
    CARD_RULES,
    STALE_RULE,
    card_path,
    render,
    save_caches,
    stale_finding,
    stale_findings,
    write,
)
from modelreg.store.registry import Registry


def check(registry: Registry, name: str | Sequence[str], stage: str | None = None, *,
          engine: str | Engine = "auto", opa_url: str | None = None,
          now: _dt.datetime | str | None = None) -> Report:
    """``modelreg card NAME --check``: the card's findings as ``modelreg check`` gives them.

    The card rules (CARD-01 required sections, CARD-02 front matter, CARD-03 high-risk
    sections) live only in ``policies/card.rego``: this judges the model exactly as ``check``
    does (:func:`modelreg.policy.evaluate.evaluate`: the same policy input documents, one
    engine evaluation) and keeps the CARD-* findings and whatever else concerns the card file.
    Staleness (CARD-04) is not a policy rule: it compares the card with what rendering gives,
    here and in ``check`` alike; a missing card is reported as stale too. ``name`` may be
    several models' names, judged in the same one evaluation.

    ``stage`` judges every version at that stage; without it, each version is judged at the
    stage it holds or asks for, as ``check`` does. Raises :class:`InputError` when the
    model's metadata cannot be read (the card cannot be rendered from it)."""
    names = [name] if isinstance(name, str) else sorted(set(name))
    own: list[Finding] = []
    for one in names:
        rel = card_path(one)
        try:
            rendered = render(registry, one)
        except InputError as exc:
            if exc.file != rel:
                raise
            own.append(Finding(rel, "ID-00", exc.message, line=exc.line, model=one))
        else:
            if rendered.current is None:
                own.append(Finding(rel, STALE_RULE,
                                   f"card is missing: run modelreg card {one} --write",
                                   model=one))
            elif rendered.stale:
                own.append(stale_finding(one, rel, rendered.current, rendered.text))
    result = evaluate(registry, names, stage=stage, engine=engine, opa_url=opa_url, now=now,
                      freshness=functools.partial(stale_findings, registry.root))
    save_caches()
    cards = {card_path(one) for one in names}
    findings = [f for f in result.findings if f.rule.startswith(CARD_RULES) or f.file in cards]
    # `check` reports an unreadable or stale card itself, except when the card does not
    # exist or another broken file of the model kept it from rendering the card.
    reported = {f.file for f in findings if f.rule in ("ID-00", STALE_RULE)}
    findings += [f for f in own if f.file not in reported]
    return Report("card", 1, tuple(sorted(findings, key=Finding.sort_key)))


__all__ = ["check", "render", "write"]
