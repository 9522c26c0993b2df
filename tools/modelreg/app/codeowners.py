"""``modelreg codeowners``: is .github/CODEOWNERS what the registry's data says it should be
(``--check``), or write it (``--write``)? Generating and checking it is store/codeowners.py
(``doctor`` runs the same check)."""
from __future__ import annotations

from modelreg.store.codeowners import PATH, check, generate, write

__all__ = ["check", "write", "generate", "PATH"]
