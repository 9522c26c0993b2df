"""Build step: the reference registry's policies and schemas ship inside the package.

The top-level ``policies/``, ``schemas/`` and ``.github/workflows/`` are this registry's own
rules and workflows, and the defaults every new registry starts from (``modelreg init``). They stay where they are, one copy in git;
building a wheel copies them into ``modelreg/defaults/``. An editable install reads them from
the source tree instead (``modelreg.store.defaults``). Everything else is in pyproject.toml.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("policies", "schemas", ".github/workflows")   # as modelreg.store.defaults.SHIPPED


class BuildWithDefaults(build_py):
    """``build_py`` plus the default policies, schemas and workflows as package data."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return                      # an editable install reads the source tree
        target = Path(self.build_lib) / "modelreg" / "defaults"
        for folder in SHIPPED:
            source = HERE / folder
            if not source.is_dir():
                raise SystemExit(f"{source} is missing: build from a full checkout or sdist")
            shutil.rmtree(target / folder, ignore_errors=True)
            shutil.copytree(source, target / folder,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithDefaults})
