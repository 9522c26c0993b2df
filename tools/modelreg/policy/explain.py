"""``policy explain``: what a rule checks, the stage it gates and where its data comes from,
read from the rule catalogue (``rules.yaml`` in the registry's configuration)."""
from __future__ import annotations

import re
from typing import Any

from modelreg.core import stages
from modelreg.core.errors import UsageError
from modelreg.policy.engines import PolicySet

RULE_ID_RE = re.compile(r"\b([A-Z]{2,5}-\d{2})\b")


def catalogue(policy_set: PolicySet) -> dict[str, dict[str, Any]]:
    """Rule id -> catalogue entry."""
    rules = (policy_set.data.get("rules") or {}).get("rules") or {}
    return {str(k): v for k, v in rules.items() if isinstance(v, dict)}


def explain(policy_set: PolicySet, rule_id: str) -> dict[str, Any]:
    """The catalogue entry of ``rule_id``, plus the policy files that implement it."""
    rules = catalogue(policy_set)
    key = rule_id.strip().upper()
    if key not in rules:
        raise UsageError(f"unknown rule {rule_id!r}",
                         hint=f"known rules: {', '.join(sorted(rules))}")
    entry = dict(rules[key])
    implemented = sorted(pf.path for pf in policy_set.policies if f'"{key}"' in pf.text)
    applies = list(stages.from_(policy_set.stage_order, str(entry.get("stage"))))
    return {"id": key, **entry, "applies_to": applies, "implemented_in": implemented}


def rule_ids_in(text: str) -> set[str]:
    return set(RULE_ID_RE.findall(text))


__all__ = ["catalogue", "explain", "rule_ids_in"]
