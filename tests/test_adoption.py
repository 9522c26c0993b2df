"""A new organisation adopts modelreg from its wheel alone, and walks a model to staging.

The wheel is built from this project's files (sdist, then the wheel from the sdist, as a
package index would get it) and installed into a fresh virtual environment outside the
project. Its third-party dependencies come from the test's own environment (a folder of
links to each installed distribution except modelreg), so pip installs the wheel with
``--no-index`` and still resolves its declared requirements. From then on only that
environment's ``modelreg`` and ``dvc`` run, in folders outside the project, with no
PYTHONPATH: every default the new registry gets comes out of the wheel.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import PROJECT, S3, git, s3, safetensors_bytes  # noqa: F401  (the fixture)

ORG = "Northwind"
# login -> (name, e-mail, teams, roles)
PEOPLE = {
    "nora-ds": ("Nora Patel", "nora.patel@northwind.example", ["forecasting"], ["developer"]),
    "raj-risk": ("Raj Iyer", "raj.iyer@northwind.example", ["model-risk"],
                 ["approver", "model-risk-officer"]),
    "mia-risk": ("Mia Berg", "mia.berg@northwind.example", ["model-risk"],
                 ["approver", "model-risk-officer"]),
    "val-check": ("Val Moreau", "val.moreau@northwind.example", ["model-validation"],
                  ["validator", "approver"]),
    "gus-gov": ("Gus Olsen", "gus.olsen@northwind.example", ["governance"], ["governance"]),
}
CI = ("Northwind registry bot", "registry-bot@northwind.example")


def build_wheel(out: Path) -> Path:
    """sdist then wheel (from the sdist), from a copy of what git would commit."""
    src = out / "src"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=PROJECT, capture_output=True, check=True).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        path = PROJECT / rel
        if path.is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / rel)
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                           str(out / "dist"), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (out / "dist").glob("modelreg-*.whl")
    return wheel


def make_venv(where: Path, wheel: Path) -> Path:
    """A fresh virtual environment holding the wheel; dependencies linked from ours."""
    deps = where / "deps"
    deps.mkdir(parents=True)
    ours = {Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
    for site in ours:
        for entry in site.iterdir():
            low = entry.name.lower()
            if (low.startswith(("modelreg", "__editable__", "_virtualenv"))
                    or low.endswith(".pth") or low in ("__pycache__",)):
                continue
            if not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    venv = where / "venv"
    # without its own pip (ensurepip alone takes seconds): our pip installs into it
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "northwind-deps.pth").write_text(f"{deps}\n")
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"),
                           "install", "-q", "--no-index",
                           "--find-links", str(wheel.parent), f"modelreg=={_version(wheel)}"],
                          capture_output=True, text=True, env=_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv


def _version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


class Northwind:
    """Northwind's people working on their registry with the installed modelreg."""

    def __init__(self, base: Path, venv: Path) -> None:
        self.base, self.venv = base, venv
        self.day = 1
        self.pr = 0
        self.user = "nora-ds"
        self.signing: list[str] = []      # reconcile's key options, once the registry has one

    def env(self, who: tuple[str, str] | None = None) -> dict[str, str]:
        name, email = who or PEOPLE[self.user][:2]
        stamp = f"2026-07-{self.day:02d}T10:00:00Z"
        return _env(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=name,
                    GIT_COMMITTER_EMAIL=email, GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp,
                    PATH=f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}")

    def run(self, cwd: Path, *args: str, tool: str = "modelreg", ok: bool = True,
            who: tuple[str, str] | None = None) -> subprocess.CompletedProcess:
        # dvc came in as a dependency linked from our environment: its module, not a script
        cmd = [str(self.venv / "bin/modelreg")] if tool == "modelreg" else \
            [str(self.venv / "bin/python"), "-m", tool]
        proc = subprocess.run([*cmd, *args], cwd=cwd,
                              capture_output=True, text=True, env=self.env(who))
        if ok:
            assert proc.returncode == 0, f"{tool} {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
        return proc

    def git(self, cwd: Path, *args: str, who: tuple[str, str] | None = None) -> str:
        return git(cwd, *args, env=self.env(who))

    def tick(self) -> None:
        self.day += 1

    def reviews(self, *approvals: tuple[str, str]) -> Path:
        path = self.base / f"reviews-{self.day}.json"
        path.write_text(json.dumps([
            {"id": i + 1, "user": {"login": login}, "state": "APPROVED", "commit_id": sha,
             "submitted_at": f"2026-07-{self.day:02d}T09:{i:02d}:00Z"}
            for i, (login, sha) in enumerate(approvals)]))
        return path

    def merge(self, main: Path, branch: str) -> None:
        """The pull request is merged on GitHub: a merge commit on main."""
        self.pr += 1
        self.tick()
        self.git(main, "pull", "-q", "--ff-only", "origin", "main", who=CI)
        self.git(main, "fetch", "-q", "origin", f"{branch}:{branch}", who=CI)
        self.git(main, "merge", "-q", "--no-ff", "-m", f"Merge pull request #{self.pr} from "
                 f"{branch}", branch, who=CI)
        self.git(main, "push", "-q", "origin", "main", who=CI)

    def reconcile(self, ci: Path, reviews: Path, author: str) -> dict:
        self.tick()
        self.git(ci, "pull", "-q", "--ff-only", "origin", "main", who=CI)
        res = self.run(ci, "reconcile", "--push", "--pr", str(self.pr), "--reviews", str(reviews),
                       "--pr-author", author, "--json", *self.signing, who=CI)
        return json.loads(res.stdout)


def trust_the_reconcile_key(nw: Northwind, root: Path) -> None:
    """Governance lists the reconcile job's tag-signing key (made offline) as the one allowed
    signer, when this release signs registry tags (policies/data/tag-signing.yaml)."""
    signers = root / "policies/data/tag-signing.yaml"
    if not signers.is_file():
        return
    key = nw.base / "reconcile-signing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "northwind reconcile",
                    "-f", str(key)], check=True, capture_output=True)
    public = key.with_name(key.name + ".pub").read_text().strip()
    text = signers.read_text()
    assert "allowed_signers: []" in text        # a new registry trusts no key of anyone's
    signers.write_text(text.replace("allowed_signers: []", "allowed_signers:\n"
                                    "  - id: northwind-reconcile\n    format: ssh\n"
                                    f"    key: {json.dumps(public)}\n"))
    nw.signing = ["--signing-key", str(key)]


def fill_in_people_and_teams(root: Path) -> None:
    """What Northwind's governance does first: real people and teams for the placeholders."""
    lines = ["people:"]
    for login, (name, email, teams, roles) in PEOPLE.items():
        lines += [f"  {login}:", f"    name: {name}", f"    email: {email}",
                  f"    teams: [{', '.join(teams)}]", f"    roles: [{', '.join(roles)}]"]
    (root / "policies/data/people.yaml").write_text("\n".join(lines) + "\n")
    teams = (root / "policies/data/teams.yaml").read_text()
    assert f'"@{ORG}/model-risk"' in teams and "modelreg: placeholder" in teams
    teams = teams.replace("ml-team:", "forecasting:").replace(
        f"@{ORG}/ml-team", f"@{ORG}/forecasting")
    teams = "\n".join(line.split("  # modelreg: placeholder")[0].rstrip()
                      for line in teams.splitlines()) + "\n"
    (root / "policies/data/teams.yaml").write_text(teams)


MODEL_YAML = """\
name: demand-forecast
uid: 2b7e1c4d-5a6f-4e8d-9c0b-1a2b3c4d5e6f
title: Store demand forecast
summary: Forecasts next week's unit demand per store and product family.
task: tabular-regression
model_type: gradient boosted trees
library_name: sklearn
license: proprietary-internal
license_link: https://northwind.example/legal/internal-models
owner:
  team: forecasting
  business_owner: nora-ds
developers: [nora-ds]
contacts: [forecasting@northwind.example]
intended_use:
  purpose: Weekly replenishment planning for Northwind stores.
  users: [replenishment planners]
  affected_persons: [nobody; no decisions about people]
  out_of_scope: [any decision about people, pricing]
risk:
  tier: 3
  tier_rationale: Planners review every order the forecast suggests.
  eu_ai_act:
    class: minimal
    rationale: Not an Annex III use; no interaction with people.
evaluation:
  thresholds:
    - {metric: wape, threshold: 0.3, direction: lower}
monitoring_plan:
  metrics: [wape]
  thresholds: {wape: 0.3}
  frequency: weekly
  owner: forecasting
logging:
  events: [request_id, prediction]
  retention_days: 30
  where: platform log store
review:
  interval_days: 730
"""


def complete_card(card: Path) -> None:
    """The owners write the card's sections (the rendered card holds placeholders)."""
    text = card.read_text()
    filled = []
    for line in text.splitlines():
        if "[More Information Needed]" in line:
            line = line.replace("[More Information Needed]",
                                "Northwind's forecasting team wrote this section for review.")
        filled.append(line)
    card.write_text("\n".join(filled) + "\n")


def test_northwind_adopts_modelreg_from_the_wheel_alone(tmp_path, s3: S3):  # noqa: F811
    wheel = build_wheel(tmp_path / "build")
    venv = make_venv(tmp_path / "env", wheel)
    version = _version(wheel)
    world = tmp_path / "northwind"
    world.mkdir()
    nw = Northwind(world, venv)

    # the installed package is the wheel's, with its defaults packaged beside the code
    probe = subprocess.run([str(venv / "bin/python"), "-c",
                            "import modelreg, modelreg.store.defaults as d; "
                            "print(modelreg.__file__); print(d.defaults_dir())"],
                           cwd=world, capture_output=True, text=True, env=_env())
    where, defaults = probe.stdout.split()
    assert Path(where).is_relative_to(venv) and Path(defaults).is_relative_to(venv), probe

    # init, in a clone of Northwind's new, empty origin
    origin = world / "origin.git"
    git(world, "init", "-q", "--bare", "-b", "main", str(origin))
    admin = world / "admin"
    git(world, "clone", "-q", str(origin), str(admin))
    # Northwind keeps its weights in an S3 bucket (here an S3-compatible server on loopback)
    res = nw.run(world, "init", str(admin), "--org", ORG, "--remote", "s3://weights/northwind")
    assert "created the Northwind registry" in res.stdout
    checkyml = (admin / ".github/workflows/check.yml").read_text()
    assert f'pip install "modelreg=={version}" "dvc[s3]' in checkyml and "-e ." not in checkyml
    assert "aws-actions/configure-aws-credentials@" in checkyml
    assert "verify = True" in (admin / ".dvc/config").read_text()
    nw.run(admin, "remote", "modify", "storage", "endpointurl", s3.endpoint, tool="dvc")
    assert f"modelreg: {version}" in (admin / ".modelreg.yaml").read_text()
    assert "placeholder-risk-officer" in (admin / "policies/data/people.yaml").read_text()
    nw.run(admin, "validate")
    nw.run(admin, "codeowners", "--check")

    # governance fills in the people and teams, regenerates CODEOWNERS, commits and pushes
    fill_in_people_and_teams(admin)
    trust_the_reconcile_key(nw, admin)
    files, entries = {}, ["datasets:"]
    for split, rows in (("train", "1,dairy,2026-01,120\n2,bakery,2026-01,80\n"),
                        ("test", "1,dairy,2026-02,115\n2,bakery,2026-02,84\n")):
        files[split] = world / f"sales-{split}.csv"
        files[split].write_text("store,family,week,units\n" + rows)
        digest = hashlib.sha256(files[split].read_bytes()).hexdigest()
        entries += [f"  sales-{split}:", f"    description: Weekly unit sales, {split} split.",
                    "    license: proprietary-internal", "    contains_personal_data: false",
                    f'    revisions:\n      "2026.06": {{sha256: {digest}, rows: 2}}']
    (admin / "policies/data/datasets.yaml").write_text("\n".join(entries) + "\n")
    nw.run(admin, "codeowners", "--write")
    assert f"@{ORG}/model-risk" in (admin / ".github/CODEOWNERS").read_text()
    nw.run(admin, "validate")
    nw.git(admin, "add", "-A", who=CI)
    nw.git(admin, "commit", "-q", "-m", "Start Northwind's model registry", who=CI)
    nw.git(admin, "push", "-q", "origin", "main", who=CI)

    ds, ci = world / "nora", world / "ci"
    for clone in (ds, ci):
        git(world, "clone", "-q", str(origin), str(clone))

    # register a version on a branch: the pull request
    nw.tick()
    train = world / "train"
    train.mkdir()
    weights = train / "model.safetensors"
    weights.write_bytes(safetensors_bytes("demand-forecast 1.0.0", b"\x01" * 64))
    (train / "metrics.json").write_text(json.dumps([
        {"name": "wape", "value": 0.21, "dataset": "sales-test", "split": "test"}]))
    (train / "model.yaml").write_text(MODEL_YAML)
    nw.run(ds, "register", "demand-forecast", "--version", "1.0.0", "--weights", str(weights),
           "--from", str(train / "model.yaml"), "--metrics", str(train / "metrics.json"),
           "--dataset", f"train:sales-train@2026.06:{files['train']}",
           "--dataset", f"test:sales-test@2026.06:{files['test']}", "-m", "First forecast model")
    branch = nw.git(ds, "symbolic-ref", "--short", "HEAD").strip()
    complete_card(ds / "models/demand-forecast/card.md")
    nw.git(ds, "commit", "-q", "-am", "Card of demand-forecast")
    head = nw.git(ds, "rev-parse", "HEAD").strip()
    nw.git(ds, "push", "-q", "origin", branch)

    reviews = nw.reviews(("raj-risk", head))
    res = nw.run(ds, "check", "--changed-since", "origin/main", "--reviews", str(reviews),
                 "--pr-author", "nora-ds", "--head", head, "--json", ok=False)
    assert res.returncode == 0, res.stdout + res.stderr
    nw.merge(admin, branch)
    tags = nw.reconcile(ci, reviews, "nora-ds")
    assert "demand-forecast@v1.0.0" in json.dumps(tags)

    # promote to staging: another pull request, approved by a model-risk officer
    nw.tick()
    nw.git(ds, "checkout", "-q", "main")
    nw.git(ds, "pull", "-q", "--ff-only", "origin", "main")
    nw.git(ds, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
    nw.run(ds, "promote", "demand-forecast@1.0.0", "--stage", "staging", "-m", "Backtest passed")
    branch = nw.git(ds, "symbolic-ref", "--short", "HEAD").strip()
    head = nw.git(ds, "rev-parse", "HEAD").strip()
    nw.git(ds, "push", "-q", "origin", branch)
    reviews = nw.reviews(("mia-risk", head))
    res = nw.run(ds, "check", "--changed-since", "origin/main", "--reviews", str(reviews),
                 "--pr-author", "nora-ds", "--head", head, ok=False)
    assert res.returncode == 0, res.stdout + res.stderr
    nw.merge(admin, branch)
    tags = nw.reconcile(ci, reviews, "nora-ds")
    assert "demand-forecast#staging#" in json.dumps(tags)

    # the deploy pipeline: a fresh clone, the weights from Northwind's DVC storage, the gate
    deploy = world / "deploy"
    git(world, "clone", "-q", str(origin), str(deploy))
    nw.git(deploy, "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*")
    pointer = "models/demand-forecast/versions/1.0.0/model.safetensors"
    assert s3.client.list_objects_v2(Bucket="weights", Prefix="northwind/")["KeyCount"] == 1
    nw.run(deploy, "pull", f"{pointer}.dvc", tool="dvc")
    assert (deploy / pointer).read_bytes() == weights.read_bytes()
    res = nw.run(deploy, "gate", "demand-forecast", "--stage", "staging", "--artifact", pointer,
                 "--json")
    assert json.loads(res.stdout)["ok"] is True
    res = nw.run(deploy, "gate", "demand-forecast", "--stage", "production", ok=False)
    assert res.returncode == 1, res.stdout + res.stderr

    # governance's check-up: nothing left to do, and this release's defaults are in place
    nw.git(admin, "pull", "-q", "--ff-only", "origin", "main", who=CI)
    res = nw.run(admin, "doctor", ok=False)
    assert res.returncode == 0, res.stdout + res.stderr
    res = nw.run(admin, "upgrade", ok=False)
    assert res.returncode == 0 and "nothing to do" in res.stderr, res.stdout + res.stderr
