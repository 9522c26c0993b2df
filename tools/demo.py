"""`make demo`: the registry's lifecycle, end to end, on a scratch copy.

Builds a temporary registry (its own git repository, a bare "origin", a local DVC remote),
trains the two example models, registers each through a branch that is checked — policies,
card, code-owner approvals given as GitHub review JSON — and merged like a pull request;
reconciles the tags on main; promotes iris-classifier to staging and production; lets a
challenger that is worse on a slice take production only once a model-risk officer accepts
it; opens and closes a validation finding; records a monitoring breach; asks the deploy gate
with the right and with tampered weights; lists what falls due and the inventory; shows the
history; and proves a fresh clone pulls the exact weights back. Everything runs the real `modelreg` command; nothing
here touches this checkout.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_CONFIG_NOSYSTEM": "1"}
PEOPLE = {"alice-ds": ("Alice Martin", "alice.martin@example.com"),
          "bob-ds": ("Bob Okafor", "bob.okafor@example.com"),
          "ci": ("modelreg-reconcile", "reconcile@example.com")}


def as_user(login: str) -> None:
    name, email = PEOPLE[login]
    for role in ("AUTHOR", "COMMITTER"):
        ENV[f"GIT_{role}_NAME"], ENV[f"GIT_{role}_EMAIL"] = name, email
MODELREG = [sys.executable, "-m", "modelreg"]
SIGN: list[str] = []          # --signing-key KEY: the reconcile job's key, made by the demo


def say(text: str) -> None:
    print(f"\n{BOLD}== {text}{RESET}")


def run(cmd: list[str], cwd: Path, show: bool = True, check: bool = True,
        env: dict | None = None) -> subprocess.CompletedProcess:
    shown = ["modelreg", *cmd[3:]] if cmd[:3] == MODELREG else cmd
    if show:
        print(f"{DIM}$ {' '.join(shlex.quote(c) for c in shown)}{RESET}")
    proc = subprocess.run(cmd, cwd=cwd, text=True, capture_output=True, env=env or ENV)
    if show and proc.stdout.strip():
        print(textwrap.indent(proc.stdout.rstrip(), "  "))
    if proc.returncode != 0 and check:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(f"demo step failed ({proc.returncode}): {' '.join(shown)}")
    return proc


def build_scratch(scratch: Path) -> tuple[Path, Path]:
    """Copy this repository's template files (no registered versions) into a new registry."""
    reg = scratch / "registry"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=HERE, capture_output=True, text=True, check=True).stdout
    inputs = scratch / "inputs"
    inputs.mkdir(parents=True)
    for rel in filter(None, files.split("\0")):
        src = HERE / rel
        if not src.is_file() or rel.startswith("examples/"):
            continue
        parts = rel.split("/")
        if parts[0] == "models":
            if len(parts) == 3 and parts[2] == "model.yaml":   # the records to register from
                shutil.copy(src, inputs / f"{parts[1]}.model.yaml")
            elif len(parts) == 3 and parts[2] == "card.md":    # the owners' card prose
                (reg / "models" / parts[1]).mkdir(parents=True, exist_ok=True)
                shutil.copy(src, reg / "models" / parts[1] / "card.md")
            continue
        dest = reg / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    (reg / "models").mkdir(exist_ok=True)
    return reg, inputs


def reviews(scratch: Path, name: str, *approvals: tuple[str, str]) -> str:
    """A pull request's reviews as GitHub's list-reviews endpoint returns them."""
    path = scratch / "reviews" / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps([
        {"id": i + 1, "user": {"login": login}, "state": "APPROVED", "commit_id": sha,
         "submitted_at": f"2026-11-27T10:{i:02d}:00Z"} for i, (login, sha) in enumerate(approvals)],
        indent=2))
    return str(path)


def head(reg: Path) -> str:
    return run(["git", "rev-parse", "HEAD"], reg, show=False).stdout.strip()


def merge(reg: Path, branch: str, pr: int) -> None:
    as_user("ci")
    run(["git", "checkout", "-q", "main"], reg, show=False)
    run(["git", "merge", "-q", "--no-ff", "-m", f"Merge pull request #{pr} from {branch}", branch],
        reg)
    run(["git", "push", "-q", "origin", "main"], reg, show=False)


def pull_request(scratch: Path, reg: Path, pr: int, branch: str, author: str,
                 approver: str, what: str) -> tuple[int, str]:
    """Check the branch's head with ``approver``'s approval, merge it and reconcile."""
    sha = head(reg)
    ok = reviews(scratch, f"pr-{pr + 1}", (approver, sha))
    run(MODELREG + ["check", "--base", "main", "--pr-author", author, "--head", sha,
                    "--reviews", ok], reg)
    print(f"  exit 0: {approver} approved {what}")
    merge(reg, branch, pr + 1)
    run(MODELREG + ["reconcile", "--push", *SIGN, "--pr", str(pr + 1), "--reviews", ok,
                    "--pr-author", author], reg)
    return pr + 1, ok


def challenger(scratch: Path, reg: Path, pr: int) -> int:
    """1.1.0 challenges 1.0.0 for production (EVAL-05), a validation finding is opened and
    closed (GOV-06), and production monitoring records a breach (MON-01). The number of the
    last pull request, or -1 when a control let something through."""
    say("1.1.0 goes to staging; then it asks for production, where 1.0.0 is the champion")
    as_user("alice-ds")
    run(MODELREG + ["promote", "iris-classifier@1.1.0", "--stage", "staging"], reg)
    pr, _ = pull_request(scratch, reg, pr, "promote/iris-classifier-staging-1.1.0", "alice-ds",
                         "carol-risk", "the promotion to staging")
    as_user("alice-ds")
    run(MODELREG + ["promote", "iris-classifier@1.1.0", "--stage", "production"], reg)
    sha = head(reg)
    proc = run(MODELREG + ["check", "--base", "main", "--pr-author", "alice-ds", "--head", sha,
                           "--reviews", reviews(scratch, "challenger-plain", ("dave-risk", sha))],
               reg, check=False)
    print(f"  exit {proc.returncode}: 1.1.0 recalls fewer versicolor flowers than 1.0.0; an "
          "ordinary approval does not accept a regression")
    if proc.returncode == 0:
        return -1
    run(["git", "checkout", "-q", "main"], reg, show=False)
    run(["git", "branch", "-q", "-D", "promote/iris-classifier-production-1.1.0"], reg,
        show=False)
    say("carol-risk, a model-risk officer, accepts the regression: named in stages.yaml, "
        "and it counts because she approves the pull request")
    run(MODELREG + ["promote", "iris-classifier@1.1.0", "--stage", "production",
                    "--accept-regression", "Smoother weights; versicolor recall is watched in "
                    "monitoring", "--accepted-by", "carol-risk"], reg)
    pr, _ = pull_request(scratch, reg, pr, "promote/iris-classifier-production-1.1.0",
                         "alice-ds", "carol-risk", "the promotion, and accepted the regression")
    run(MODELREG + ["show", "iris-classifier@1.1.0"], reg)

    say("erin-val (validation) raises a finding on 1.1.0; only the validation team opens "
        "and closes findings")
    today = dt.date.today()
    finding = reg / "models/iris-classifier/validation/VF-001.yaml"
    text = ("id: VF-001\nmodel: iris-classifier\nversion: 1.1.0\n"
            "title: Versicolor recall not benchmarked against 1.0.0 on fresh data\n"
            "severity: medium\nowner: alice-ds\nraised_by: erin-val\n"
            f"opened_at: '{today}'\ndue: '{today + dt.timedelta(days=45)}'\nstatus: open\n")
    as_user("alice-ds")
    run(["git", "checkout", "-q", "-b", "validation/VF-001"], reg, show=False)
    finding.parent.mkdir(exist_ok=True)
    finding.write_text(text)
    run(["git", "add", str(finding)], reg, show=False)
    run(["git", "commit", "-q", "-m", "Validation finding VF-001"], reg)
    pr, _ = pull_request(scratch, reg, pr, "validation/VF-001", "alice-ds", "erin-val",
                         "the finding")
    run(["git", "checkout", "-q", "-b", "validation/VF-001-close"], reg, show=False)
    finding.write_text(text.replace("status: open\n", f"status: closed\nclosed_at: '{today}'\n"
                                    "resolution: benchmark on the 2026.12 sample, report "
                                    "VAL-2026-31\n"))
    run(["git", "commit", "-q", "-am", "Close VF-001"], reg)
    sha = head(reg)
    proc = run(MODELREG + ["check", "--base", "main", "--pr-author", "alice-ds", "--head", sha,
                           "--reviews", reviews(scratch, "close-self", ("grace-ds", sha))],
               reg, check=False)
    print(f"  exit {proc.returncode}: her own team cannot close it")
    if proc.returncode == 0:
        return -1
    pr, _ = pull_request(scratch, reg, pr, "validation/VF-001-close", "alice-ds", "erin-val",
                         "closing it")

    say("Production monitoring: a month of accuracy on live traffic, below the threshold")
    end = today - dt.timedelta(days=1)
    results = scratch / "monitoring.json"
    results.write_text(json.dumps({
        "window": {"start": str(end - dt.timedelta(days=29)), "end": str(end)},
        "metrics": [{"name": "accuracy", "value": 0.87, "n": 4210}],
        "drift": [{"feature": "petal_length", "statistic": "psi", "value": 0.08}]}))
    as_user("alice-ds")
    run(MODELREG + ["monitor", "record", "iris-classifier@1.1.0", "--results", str(results)],
        reg)
    branch = run(["git", "symbolic-ref", "--short", "HEAD"], reg, show=False).stdout.strip()
    pr, _ = pull_request(scratch, reg, pr, branch, "alice-ds", "dave-risk",
                         "the monitoring record (the stage approvers own monitoring)")
    proc = run(MODELREG + ["check"], reg, check=False)
    print(f"  exit {proc.returncode}: the breach is a finding on the version in production")
    return pr


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="modelreg-demo-"))
    say(f"A scratch registry in {scratch}")
    reg, inputs = build_scratch(scratch)
    say("The reconcile job's signing key: every registry tag is signed, and only the keys in "
        "policies/data/tag-signing.yaml count")
    key = scratch / "signing" / "reconcile"
    key.parent.mkdir()
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "modelreg reconcile (demo)",
         "-f", str(key)], scratch)
    public = key.with_suffix(".pub").read_text().strip()
    (reg / "policies/data/tag-signing.yaml").write_text(
        "signed_tags: true\nallowed_signers:\n  - id: reconcile-demo\n    format: ssh\n"
        f"    key: {json.dumps(public)}\n    note: the demo's reconcile job\n")
    print(f"  allowed signer reconcile-demo: {public[:40]}…")
    SIGN[:] = ["--signing-key", str(key)]
    origin, remote = scratch / "origin.git", scratch / "dvc-remote"
    as_user("ci")
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], scratch)
    run(["git", "init", "-q", "-b", "main"], reg)
    run([sys.executable, "-m", "dvc", "remote", "add", "-f", "-d", "examples", str(remote)], reg)
    run([sys.executable, "-m", "dvc", "remote", "modify", "examples", "verify", "true"], reg,
        show=False)
    for name in ("iris-classifier", "credit-default"):
        run(["git", "rm", "-q", "--cached", f"models/{name}/card.md"], reg, show=False,
            check=False)
    run(["git", "add", "-A", ":!models"], reg, show=False)
    run(["git", "commit", "-q", "-m", "Start the model registry"], reg)
    run(["git", "remote", "add", "origin", str(origin)], reg, show=False)
    run(["git", "push", "-q", "-u", "origin", "main"], reg)

    say("Train the two example models (deterministic: same data, same weights, same hashes)")
    out = scratch / "training"
    run([sys.executable, "tools/train_examples.py", str(out), "--challenger"], reg)
    for line in sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()):
        print(f"  {line}")

    registrations = {
        "iris-classifier": ("alice-ds", "grace-ds",
                            ["--dataset", "train:iris-train@2026.11",
                             "--dataset", f"test:iris-test@2026.11:{out}/iris-classifier/iris-test.csv",
                             "-m", "Logistic regression on the iris data."]),
        "credit-default": ("bob-ds", "carol-risk",
                           ["--dataset", "train:credit-applications-train@2026.11",
                            "--dataset", "test:credit-applications-test@2026.11",
                            "-m", "PD model on 2026.11 applications; age and sex excluded."]),
    }
    pr = 0
    for name, (author, approver, extra) in registrations.items():
        say(f"{author} registers {name} 1.0.0 on a branch, for a pull request")
        as_user(author)
        d = out / name
        run(MODELREG + ["register", name, "--version", "1.0.0",
                        "--weights", str(d / "model.safetensors"),
                        "--metrics", str(d / "metrics.json"),
                        "--config", str(d / "train-config.yaml"),
                        "--from", str(inputs / f"{name}.model.yaml"),
                        "--entrypoint", "tools/train_examples.py", *extra], reg)
        run(["git", "log", "--oneline", "--stat", "-1"], reg)
        sha = head(reg)
        say("The pull request's status check: policies, card, and code-owner sign-off")
        check = MODELREG + ["check", "--base", "main", "--pr-author", author,
                            "--head", sha, "--reviews"]
        proc = run(check + [reviews(scratch, f"{name}-none")], reg, check=False)
        print(f"  exit {proc.returncode}: nobody has approved yet")
        proc = run(check + [reviews(scratch, f"{name}-author", (author, sha))], reg, check=False)
        print(f"  exit {proc.returncode}: the author cannot approve her own change")
        # iris-classifier: a colleague in the owning team; credit-default is new to the
        # inventory, so CODEOWNERS on main names the model-risk team for it
        approved = reviews(scratch, f"{name}-ok", (approver, sha))
        run(check + [approved], reg)
        print(f"  exit 0: {approver}, a code owner, approved the head commit")
        pr += 1
        say(f"Pull request #{pr} is merged; CI reconciles main into tags, with the evidence")
        merge(reg, f"register/{name}-1.0.0", pr)
        run(MODELREG + ["reconcile", "--push", *SIGN, "--pr", str(pr), "--reviews", approved,
                        "--pr-author", author], reg)

    for stage, approver in (("staging", "carol-risk"), ("production", "dave-risk")):
        say(f"alice-ds asks for iris-classifier 1.0.0 in {stage} (policies checked first)")
        as_user("alice-ds")
        run(MODELREG + ["promote", "iris-classifier@1.0.0", "--stage", stage], reg)
        sha = head(reg)
        ok = reviews(scratch, f"promote-{stage}", (approver, sha))
        run(MODELREG + ["check", "--base", "main", "--pr-author", "alice-ds",
                        "--head", sha, "--reviews", ok], reg)
        print(f"  exit 0: {approver}, a model-risk officer who owns stages.yaml, approved")
        pr += 1
        merge(reg, f"promote/iris-classifier-{stage}-1.0.0", pr)
        run(MODELREG + ["reconcile", "--push", *SIGN, "--pr", str(pr), "--reviews", ok,
                        "--pr-author", "alice-ds"], reg)

    say("alice-ds registers iris-classifier 1.1.0, a challenger with ten times the "
        "regularisation, while 1.0.0 holds production")
    as_user("alice-ds")
    d = out / "iris-classifier-challenger"
    run(MODELREG + ["register", "iris-classifier", "--version", "1.1.0",
                    "--weights", str(d / "model.safetensors"),
                    "--metrics", str(d / "metrics.json"),
                    "--config", str(d / "train-config.yaml"),
                    "--entrypoint", "tools/train_examples.py",
                    *registrations["iris-classifier"][2][:4],
                    "-m", "Smaller, smoother weights (C=0.1)."], reg)
    sha = head(reg)
    ok = reviews(scratch, "register-1.1.0", ("grace-ds", sha))
    run(MODELREG + ["check", "--changed-since", "main", "--pr-author", "alice-ds",
                    "--head", sha, "--reviews", ok], reg)
    print("  exit 0: her team's approval is enough; 1.0.0 keeps the model-risk approvals "
          "its production tag recorded")
    pr += 1
    merge(reg, "register/iris-classifier-1.1.0", pr)
    run(MODELREG + ["reconcile", "--push", *SIGN, "--pr", str(pr), "--reviews", ok,
                    "--pr-author", "alice-ds"], reg)

    say("A pull request that approves itself: 1.1.0 to staging, and grace-ds made a "
        "model-risk officer in the same change")
    as_user("alice-ds")
    run(MODELREG + ["promote", "iris-classifier@1.1.0", "--stage", "staging"], reg)
    people = reg / "policies/data/people.yaml"
    before = people.read_text()
    people.write_text(before.replace(
        "    teams: [ml-platform]\n    roles: [developer]\n  bob-ds:",
        "    teams: [ml-platform, model-risk]\n    roles: [developer, model-risk-officer]\n"
        "  bob-ds:"))
    if people.read_text() == before:
        return 1
    run(["git", "commit", "-q", "-am", "grace-ds joins model-risk"], reg)
    sha = head(reg)
    proc = run(MODELREG + ["check", "--changed-since", "main", "--pr-author", "alice-ds",
                           "--head", sha, "--reviews",
                           reviews(scratch, "self-approved", ("grace-ds", sha))],
               reg, check=False)
    print(f"  exit {proc.returncode}: people.yaml is the governance team's, and the rules "
          "that judge a pull request are not its own")
    if proc.returncode == 0:
        return 1
    run(["git", "checkout", "-q", "main"], reg, show=False)
    run(["git", "branch", "-q", "-D", "promote/iris-classifier-staging-1.1.0"], reg, show=False)


    say("credit-default is high-risk: production asks for far more, and the policies say what")
    proc = run(MODELREG + ["check", "--stage", "production"], reg, check=False)
    print(f"  exit {proc.returncode}: these findings block a promotion to production")

    pr = challenger(scratch, reg, pr)
    if pr < 0:
        return 1

    say("What the registry holds now")
    run(MODELREG + ["ls"], reg)
    run(MODELREG + ["show", "iris-classifier"], reg)
    say("Every record validates against schemas/")
    run(MODELREG + ["validate"], reg)
    print("  (exit 0: no findings)")
    say("The library API answers the same questions, and never prints")
    run([sys.executable, "-c", "import modelreg; r = modelreg.open_registry('.'); "
         "print(r.resolve('iris-classifier', stage='production')); "
         "print(r.resolve('credit-default', stage='production'))"], reg)

    say("A deploy job in a fresh clone: pull the weights, then ask the gate")
    clone = scratch / "deploy"
    run(["git", "clone", "-q", str(origin), str(clone)], scratch)
    run(["git", "fetch", "-q", "--force", "origin", "+refs/tags/*:refs/tags/*"], clone)
    run([sys.executable, "-m", "dvc", "pull", "-q"], clone)
    weights = clone / "models/iris-classifier/versions/1.1.0/model.safetensors"
    run(MODELREG + ["gate", "iris-classifier", "--stage", "production", "--artifact",
                    str(weights)], clone)
    tampered = scratch / "tampered.safetensors"
    tampered.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    proc = run(MODELREG + ["gate", "iris-classifier", "--stage", "production", "--artifact",
                           str(tampered)], clone, check=False)
    print(f"  exit {proc.returncode}: the deploy job stops here")
    for name in registrations:
        record = clone / "models" / name / "versions" / "1.0.0.yaml"
        import yaml
        art = yaml.safe_load(record.read_text())["artifacts"][0]
        digest = hashlib.sha256((clone / art["path"]).read_bytes()).hexdigest()
        verdict = "matches the record" if digest == art["sha256"] else "DOES NOT MATCH"
        print(f"  {name}: sha256 {digest[:16]}… {verdict}")
        if digest != art["sha256"]:
            return 1

    say("What falls due in the next 120 days (a scheduled workflow keeps one GitHub issue "
        "per item)")
    run(MODELREG + ["due", "--within", "120"], clone, check=False)
    say("The inventory a model-risk committee reviews, from git alone")
    run(MODELREG + ["inventory"], clone)

    say("Who did what, when, approved by whom")
    run(MODELREG + ["history"], clone)

    say("The catalog site and the auditor's evidence reports")
    site_dir, audit_dir = scratch / "site", scratch / "audit"
    run(MODELREG + ["site", str(site_dir)], clone)
    for fmt in ("md", "html", "json"):
        run(MODELREG + ["audit", "--all", "--format", fmt, "--out", str(audit_dir)], clone)
    run(MODELREG + ["lineage", "iris-classifier@1.0.0"], clone)
    print(f"  catalog:       {site_dir / 'index.html'}  (open it in a browser; works from file://)")
    print(f"  audit reports: {audit_dir}/iris-classifier.html, …/credit-default.md, ….json")

    say("Done")
    print(f"  scratch registry: {reg}\n  bare origin:      {origin}\n  DVC remote:       {remote}")
    print(f"  (remove it with: rm -rf {scratch})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
