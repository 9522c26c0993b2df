"""The policy layer: the policy input document, Rego engines behind one protocol, and the
rule catalogue that ``policy explain`` reads."""
from __future__ import annotations

from modelreg.policy.engines import (
           DECISION_QUERY,
           ENGINES,
           Engine,
           PolicySet,
           TestResult,
           available_engines,
           create_engine,
           load_policy_set,
)

__all__ = ["DECISION_QUERY", "ENGINES", "Engine", "PolicySet", "TestResult",
           "available_engines", "create_engine", "load_policy_set"]
