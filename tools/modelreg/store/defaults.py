"""What the package ships beside its code: the templates a registry may override, and the
defaults a new registry starts from (``modelreg init``).

The default policies (with their ``*_test.rego``), policy data, schemas and workflows are the
reference registry's own top-level ``policies/``, ``schemas/`` and ``.github/workflows/``, kept
once in git. A wheel carries a
copy in ``modelreg/defaults/`` (setup.py's build step); an editable install reads them from
the source checkout. :func:`defaults_dir` finds them either way.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from modelreg.core.errors import CannotRunError
from modelreg.store.config import DATA_DIR

PACKAGE_DIR = Path(__file__).resolve().parents[1]
TEMPLATES_DIR = PACKAGE_DIR / "templates"
# The files `modelreg init` writes that are not the reference registry's own (starters,
# workflow templates, README), in the package itself.
REGISTRY_TEMPLATES = TEMPLATES_DIR / "registry"
# The storage login steps `modelreg init` writes into a new registry's workflows, per cloud.
STORAGE_TEMPLATES = TEMPLATES_DIR / "storage"
PACKAGED_DEFAULTS = PACKAGE_DIR / "defaults"
SOURCE_ROOT = PACKAGE_DIR.parents[1]     # tools/modelreg -> the checkout, in an editable install
SHIPPED = ("policies", "schemas", ".github/workflows")   # as setup.py's build step

# Policy data that names this registry's own people, teams, datasets and trusted keys: a new
# registry starts from templates/registry/policies/data/ instead (placeholders, and no key
# trusted: another organisation's registry never trusts this one's signers).
STARTERS = tuple(f"{DATA_DIR}/{stem}.yaml" for stem in ("people", "teams", "datasets",
                                                        "signing", "tag-signing"))
# How a starter marks what its owners must replace: placeholder logins and team names begin
# with it, and every placeholder line carries the comment.
PLACEHOLDER = "placeholder-"
PLACEHOLDER_COMMENT = "# modelreg: placeholder"


def defaults_dir() -> Path:
    """The folder holding the default ``policies/``, ``schemas/`` and ``.github/workflows/``:
    the wheel's packaged copy, or the source checkout of an editable install."""
    for root in (PACKAGED_DEFAULTS, SOURCE_ROOT):
        if all((root / name).is_dir() for name in SHIPPED) and (
                root == PACKAGED_DEFAULTS or (root / "pyproject.toml").is_file()):
            return root
    raise CannotRunError("this modelreg installation has no default policies, schemas and "
                         "workflows",
                         hint="install modelreg from its wheel or sdist, or `pip install -e .` "
                              "from a full checkout")


def default_files() -> Iterator[tuple[str, Path]]:
    """(path in a registry, file) for every default policy, policy-data file, schema and
    workflow, in path order; the starters are left out (:data:`STARTERS`)."""
    root = defaults_dir()
    for name in SHIPPED:
        for path in sorted((root / name).rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and rel not in STARTERS and "__pycache__" not in rel:
                yield rel, path
