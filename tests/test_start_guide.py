"""docs/start.md, executed: every `sh` block of the guide runs, in order, as written, for the
guide's own organisation (Northwind), with the modelreg wheel built from this project.

Only what lies outside this machine is stood in for, each by something that speaks its
protocol: GitHub's git remote `git@github.com:Northwind/…` is a bare repository here (git's
own `url.<base>.insteadOf`); `gh api` goes to a loopback server that checks GitHub's REST
request schemas (tests/fake_github.py); the S3 bucket is moto's S3 server on 127.0.0.1, named
to DVC and doctor by `AWS_ENDPOINT_URL` as AWS's SDKs read it; `pip install "modelreg==…"` is
the wheel installed into a fresh environment (the block must name this release). What the
guide asks people to do by hand — fill in people and teams, write the card, review and merge
pull requests, run the reconcile workflow — the test does between the blocks. A block the
test does not know, or one that fails, fails the test: the guide cannot rot."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

from conftest import PROJECT, S3, git, s3, safetensors_bytes  # noqa: F401  (the fixture)
from fake_github import FakeGitHub, serve
from modelreg.core.release import __version__
from test_adoption import (
    CI,
    MODEL_YAML,
    Northwind,
    build_wheel,
    complete_card,
    fill_in_people_and_teams,
    make_venv,
    trust_the_reconcile_key,
)
from test_doctor import gh_shim

GUIDE = PROJECT / "docs" / "start.md"
FENCE = re.compile(r"^(?P<indent> *)```sh\n(?P<code>.*?)^(?P=indent)```$", re.M | re.S)
# every block of the guide, by the heading it sits under; the test knows each one
KNOWN = ["1. Install", "2. Init", "3. Fill in people and teams", "4. Connect GitHub",
         "4. Connect GitHub", "5. Connect storage", "6. Register", "7. Promote", "8. Deploy",
         "Bring existing models in", "Staying current"]
# blocks shown but not run, and why
NOT_RUN = {"Bring existing models in": "needs an MLflow tracking server and another team's "
                                      "GTO repository (tests/test_import.py runs both)",
           "Staying current": "installs a later release than this one (tests/test_upgrade.py "
                              "runs the upgrade)"}


def blocks() -> list[tuple[str, str]]:
    """(heading, code) of every `sh` block, in order; indented ones dedented."""
    text = GUIDE.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        heading = re.findall(r"^## (.+)$", text[:match.start()], re.M)[-1]
        indent = len(match.group("indent"))
        code = "".join(line[indent:] for line in match.group("code").splitlines(True))
        found.append((heading, code))
    return found


def test_the_guide_runs_as_written(tmp_path, monkeypatch, s3: S3):  # noqa: F811
    guide = blocks()
    assert [h for h, _ in guide] == KNOWN, "a block the test does not know: teach it"
    steps = iter(guide)

    # --- 1. Install: the wheel of this release, in a fresh environment -------------------
    heading, code = next(steps)
    assert f'pip install "modelreg=={__version__}"' in code, code
    wheel = build_wheel(tmp_path / "build")
    venv = make_venv(tmp_path / "env", wheel)
    world = tmp_path / "northwind"
    world.mkdir()
    nw = Northwind(world, venv)
    shims = tmp_path / "shims"
    gh_shim(shims)
    # DVC came into that environment as a dependency linked from ours, without the console
    # script pip writes for it: the same entry point
    (shims / "dvc").write_text(f"#!{venv / 'bin/python'}\nimport sys\n"
                               "from dvc.cli import main\nsys.exit(main())\n")
    (shims / "dvc").chmod(0o755)
    github = FakeGitHub(repo="Northwind/model-registry")
    server = serve(github)
    s3.client.create_bucket(Bucket="northwind-models")
    for key, value in {"AWS_ENDPOINT_URL": s3.endpoint, "FAKE_GITHUB": github.url,
                       "GITHUB_REPOSITORY": "Northwind/model-registry"}.items():
        monkeypatch.setenv(key, value)
    origin = world / "github" / "Northwind" / "model-registry.git"
    git(world, "init", "-q", "--bare", "-b", "main", str(origin))
    git(world, "config", "--global", f"url.{origin.parent}/.insteadOf", "git@github.com:Northwind/")

    def run(block: tuple[str, str], cwd: Path, who: str | None = None) -> str:
        heading, code = block
        env = nw.env(CI if who is None else None)
        env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c",
                               code], cwd=cwd, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, f"## {heading}\n{code}\n{proc.stdout}{proc.stderr}"
        return proc.stdout

    try:
        # --- 2. Init: clone the empty GitHub repository, init in it ------------------------
        run(next(steps), world)
        reg = world / "model-registry"
        assert (reg / ".modelreg.yaml").is_file() and (reg / ".git").is_dir()
        assert "aws-actions/configure-aws-credentials@" in (
            reg / ".github/workflows/deploy.yml").read_text()

        # --- 3. Fill in people and teams (by hand), then the block -------------------------
        fill_in_people_and_teams(reg)
        trust_the_reconcile_key(nw, reg)
        data = {"train": "store,family,week,units\n1,dairy,2026-01,120\n2,bakery,2026-01,80\n",
                "test": "store,family,week,units\n1,dairy,2026-02,115\n2,bakery,2026-02,84\n"}
        entries = ["datasets:"]
        for split, rows in data.items():
            digest = hashlib.sha256(rows.encode()).hexdigest()
            entries += [f"  sales-{split}:", f"    description: Weekly unit sales, {split}.",
                        "    license: proprietary-internal", "    contains_personal_data: false",
                        f'    revisions:\n      "2026.06": {{sha256: {digest}, rows: 2}}']
        (reg / "policies/data/datasets.yaml").write_text("\n".join(entries) + "\n")
        run(next(steps), reg)
        assert git(origin, "log", "--format=%s", "main").strip() == \
            "Start Northwind's model registry"

        # --- 4. Connect GitHub: doctor finds nothing left; its settings go to GitHub -------
        run(next(steps), reg)                          # exit 0: nothing left to do
        heading, code = next(steps)
        run((heading, code), reg)
        paths = [path for path, _ in github.requests]
        assert paths.count("/repos/Northwind/model-registry/rulesets") == 3, paths
        assert "/repos/Northwind/model-registry/environments/production" in paths
        (reg / "github-settings.sh").unlink()          # the administrator's, not the registry's

        # --- 5. Connect storage -----------------------------------------------------------
        out = run(next(steps), reg)
        assert "s3://northwind-models/registry" in out and out.strip().endswith("0"), out

        # --- 6. Register: the data scientist's files, the block, then the pull request ------
        nw.user = "nora-ds"
        (reg / "out").mkdir()
        (reg / "data").mkdir()
        weights = safetensors_bytes("demand-forecast 1.0.0", b"\x01" * 64)
        (reg / "out/model.safetensors").write_bytes(weights)
        (reg / "out/metrics.json").write_text(json.dumps([
            {"name": "wape", "value": 0.21, "dataset": "sales-test", "split": "test"}]))
        (reg / "model.yaml").write_text(MODEL_YAML)
        for split, rows in data.items():
            (reg / "data" / f"{split}.csv").write_text(rows)
        ci, admin = world / "ci", world / "admin"
        for clone in (ci, admin):
            git(world, "clone", "-q", str(origin), str(clone))
        nw.tick()
        run(next(steps), reg, who="nora-ds")
        assert s3.client.list_objects_v2(Bucket="northwind-models",
                                         Prefix="registry/")["KeyCount"] == 1
        branch = nw.git(reg, "symbolic-ref", "--short", "HEAD").strip()
        complete_card(reg / "models/demand-forecast/card.md")
        nw.git(reg, "commit", "-q", "-am", "Card of demand-forecast")
        head = nw.git(reg, "rev-parse", "HEAD").strip()
        nw.git(reg, "push", "-q", "origin", branch)
        reviews = nw.reviews(("raj-risk", head))
        nw.run(reg, "check", "--changed-since", "origin/main", "--reviews", str(reviews),
               "--pr-author", "nora-ds", "--head", head)
        nw.merge(admin, branch)
        assert "demand-forecast@v1.0.0" in json.dumps(nw.reconcile(ci, reviews, "nora-ds"))

        # --- 7. Promote: from main with the registry's tags; approved, merged, reconciled ---
        nw.tick()
        nw.git(reg, "checkout", "-q", "main")
        nw.git(reg, "pull", "-q", "--ff-only", "origin", "main")
        nw.git(reg, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
        run(next(steps), reg, who="nora-ds")
        branch = nw.git(reg, "symbolic-ref", "--short", "HEAD").strip()
        head = nw.git(reg, "rev-parse", "HEAD").strip()
        reviews = nw.reviews(("mia-risk", head))
        nw.run(reg, "check", "--changed-since", "origin/main", "--reviews", str(reviews),
               "--pr-author", "nora-ds", "--head", head)
        nw.merge(admin, branch)
        assert "demand-forecast#staging#" in json.dumps(nw.reconcile(ci, reviews, "nora-ds"))

        # --- 8. Deploy: a fresh clone with the registry's tags, as deploy.yml has it --------
        deploy = world / "deploy"
        git(world, "clone", "-q", str(origin), str(deploy))
        git(deploy, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
        out = run(next(steps), deploy)
        assert '"ok": true' in out, out
        assert (deploy / "models/demand-forecast/versions/1.0.0/model.safetensors"
                ).read_bytes() == weights

        # --- shown, not run --------------------------------------------------------------
        for heading, code in steps:
            assert heading in NOT_RUN, heading
            assert "modelreg " in code, heading
    finally:
        server.shutdown()
        server.server_close()
