"""`make demo`: the registry's lifecycle, end to end, on a scratch copy.

Builds a temporary registry (its own git repository, a bare "origin", a local DVC remote),
trains the two example models, registers each through a branch that is merged like a pull
request, shows the registry, and proves a fresh clone can pull the exact weights back.
Everything runs the real `modelreg` command; nothing here touches this checkout.
"""
from __future__ import annotations

import hashlib
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
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Alice Martin", "GIT_AUTHOR_EMAIL": "alice.martin@example.com",
    "GIT_COMMITTER_NAME": "Alice Martin", "GIT_COMMITTER_EMAIL": "alice.martin@example.com",
    "DVC_NO_ANALYTICS": "1", "GIT_CONFIG_NOSYSTEM": "1",
}
MODELREG = [sys.executable, "-m", "modelreg"]


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
            continue
        dest = reg / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    (reg / "models").mkdir(exist_ok=True)
    return reg, inputs


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="modelreg-demo-"))
    say(f"A scratch registry in {scratch}")
    reg, inputs = build_scratch(scratch)
    origin, remote = scratch / "origin.git", scratch / "dvc-remote"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], scratch)
    run(["git", "init", "-q", "-b", "main"], reg)
    run([sys.executable, "-m", "dvc", "remote", "add", "-f", "-d", "examples", str(remote)], reg)
    run([sys.executable, "-m", "dvc", "remote", "modify", "examples", "verify", "true"], reg,
        show=False)
    run(["git", "add", "-A"], reg, show=False)
    run(["git", "commit", "-q", "-m", "Start the model registry"], reg)
    run(["git", "remote", "add", "origin", str(origin)], reg, show=False)
    run(["git", "push", "-q", "-u", "origin", "main"], reg)

    say("Train the two example models (deterministic: same data, same weights, same hashes)")
    out = scratch / "training"
    run([sys.executable, "tools/train_examples.py", str(out)], reg)
    for line in sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()):
        print(f"  {line}")

    registrations = {
        "iris-classifier": ["--dataset", "train:iris-train@2026.11",
                            "--dataset", f"test:iris-test@2026.11:{out}/iris-classifier/iris-test.csv",
                            "-m", "Logistic regression on the iris data."],
        "credit-default": ["--dataset", "train:credit-applications-train@2026.11",
                           "--dataset", "test:credit-applications-test@2026.11",
                           "-m", "PD model on 2026.11 applications; age and sex excluded."],
    }
    for name, extra in registrations.items():
        say(f"Register {name} 1.0.0 on a branch, as a data scientist would for a pull request")
        d = out / name
        run(MODELREG + ["register", name, "--version", "1.0.0",
                        "--weights", str(d / "model.safetensors"),
                        "--metrics", str(d / "metrics.json"),
                        "--config", str(d / "train-config.yaml"),
                        "--from", str(inputs / f"{name}.model.yaml"),
                        "--entrypoint", "tools/train_examples.py", *extra], reg)
        run(["git", "log", "--oneline", "--stat", "-1"], reg)
        say(f"The pull request for {name} is merged into main")
        run(["git", "checkout", "-q", "main"], reg)
        run(["git", "merge", "-q", "--no-ff", "-m", f"Merge register/{name}-1.0.0",
             f"register/{name}-1.0.0"], reg)
        run(["git", "push", "-q", "origin", "main"], reg)

    say("What the registry holds now")
    run(MODELREG + ["ls"], reg)
    run(MODELREG + ["show", "credit-default"], reg)
    say("Every record validates against schemas/")
    run(MODELREG + ["validate"], reg)
    print("  (exit 0: no findings)")
    say("The library API answers the same questions, and never prints")
    run([sys.executable, "-c", "import modelreg; r = modelreg.open_registry('.'); "
         "print(r.resolve('credit-default')); print(r.resolve('iris-classifier', stage='production'))"],
        reg)

    say("A fresh clone gets the exact weights back from the DVC remote")
    clone = scratch / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], scratch)
    run([sys.executable, "-m", "dvc", "pull", "-q"], clone)
    for name in registrations:
        weights = clone / "models" / name / "versions" / "1.0.0" / "model.safetensors"
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        import yaml
        recorded = yaml.safe_load((clone / "models" / name / "versions" / "1.0.0.yaml")
                                  .read_text())["artifacts"][0]["sha256"]
        verdict = "matches the record" if digest == recorded else "DOES NOT MATCH"
        print(f"  {name}: sha256 {digest[:16]}… {verdict}")
        if digest != recorded:
            return 1

    say("Done")
    print(f"  scratch registry: {reg}\n  bare origin:      {origin}\n  DVC remote:       {remote}")
    print(f"  (remove it with: rm -rf {scratch})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
