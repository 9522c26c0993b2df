"""``modelreg doctor``: is this registry set up, and what is left to do?

Each check looks at one part of the set-up and says, for every problem, what is wrong, where
(file and line when there is one) and what to do:

- placeholder people and teams the starters left (``# modelreg: placeholder``,
  ``placeholder-`` logins) in ``policies/data/``;
- policy data that fails its schema (the registry's configuration loaded as ``validate``
  loads it);
- the DVC remote: missing, a local folder that does not exist, a network storage that does
  not answer (one short TCP connection, nothing sent), or ``verify = true`` not set;
- workflows and ``.pre-commit-config.yaml`` installing another modelreg than this one, a
  checkout (``pip install -e .``) or no pinned release;
- ``.github/CODEOWNERS`` out of date (``codeowners --check``'s check);
- signed registry tags required with no allowed signer, or only placeholders;
- ``.modelreg.yaml`` missing, or written by another release (``modelreg upgrade``).

It also gives the GitHub settings the registry relies on as the bodies GitHub's REST API
takes, each with the ``gh api`` command that applies it: a branch ruleset on the default and
protected branch, a tag ruleset on the registry's tag patterns that only the registry's App
may create, and the environments that only protected branches may use. Nothing is written
and nothing is sent to GitHub.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.core.errors import CannotRunError, InputError, UsageError
from modelreg.core.release import __version__
from modelreg.store import codeowners, dvc
from modelreg.store.config import (
    DATA_DIR,
    DEFAULT_ENVIRONMENTS,
    TAG_SIGNING_FILE,
    ConfigError,
    RegistryConfig,
)
from modelreg.store.defaults import PLACEHOLDER, PLACEHOLDER_COMMENT
from modelreg.store.git import Git
from modelreg.store.registry import Registry
from modelreg.store.scaffold import PIN, PRE_COMMIT, RECORD, WORKFLOWS, read_record

PROBE_SECONDS = 2.0
# The job GitHub runs for pull requests: its check run is named after the job (`check`); the
# pull request shows it as `modelreg check / check` (workflow / job).
CHECK_CONTEXT = "check"
GITHUB_ACTIONS_APP_ID = 15368          # the integration GitHub Actions reports check runs as
TAG_PATTERNS = ("*@v*", "*@deprecated*", "*#*")
TAG_ENVIRONMENT = "registry-tags"
_LOGIN = re.compile(rf"\b{re.escape(PLACEHOLDER)}[A-Za-z0-9-]+")
_FROM_CHECKOUT = re.compile(r"pip install\s+(?:-e|--editable)?\s*\.(?:/\S*)?(?=\s|$|\")")
_GITHUB_URL = re.compile(r"github\.com[:/]([A-Za-z0-9-]+)/([A-Za-z0-9._-]+?)(?:\.git)?/?$")

# the stages of a registry whose configuration cannot be read: the defaults'
DEFAULT_STAGES = tuple(stage["name"] for stage in DEFAULT_ENVIRONMENTS["stages"])


@dataclass(frozen=True)
class Problem:
    """One thing to do: what is wrong (``message``), where, and what to do (``hint``)."""

    check: str          # placeholders, policy-data, dvc-remote, pins, codeowners, tag-signing, record
    message: str
    hint: str
    file: str | None = None
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "file": self.file, "line": self.line,
                "message": self.message, "hint": self.hint}


@dataclass(frozen=True)
class Setting:
    """One GitHub setting: the REST request that makes it, as ``gh api`` sends it."""

    name: str
    file: str           # where the printed commands save ``body`` for ``--input``
    method: str         # POST or PUT
    path: str           # repos/OWNER/REPO/...
    body: dict[str, Any]
    missing: str = ""   # what the body still needs before GitHub takes it ("" when nothing)

    @property
    def command(self) -> str:
        return f"gh api -X {self.method} {self.path} --input {self.file}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "method": self.method,
                "path": self.path, "command": self.command, "body": self.body,
                "missing": self.missing}


@dataclass(frozen=True)
class Diagnosis:
    """What ``doctor`` found, and the GitHub settings to apply."""

    root: Path
    version: str
    repository: str                     # OWNER/REPO the settings are for
    problems: tuple[Problem, ...]
    settings: tuple[Setting, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "command": "doctor", "modelreg": self.version,
                "ok": self.ok, "problems": [p.to_json() for p in self.problems],
                "github": {"repository": self.repository,
                           "settings": [s.to_json() for s in self.settings]},
                "notes": list(self.notes)}


def doctor(path: str | os.PathLike = ".", *, app_id: int | None = None,
           repository: str | None = None, probe_seconds: float = PROBE_SECONDS) -> Diagnosis:
    """Check the registry whose clone holds ``path``. ``app_id`` is the registry's GitHub App
    (the only actor that may create registry tags); ``repository`` OWNER/REPO for the
    settings (default: the ``origin`` remote's, else ``GITHUB_REPOSITORY``)."""
    if app_id is not None and app_id < 1:
        raise UsageError(f"--app-id {app_id} is not a GitHub App id",
                         hint="`gh api apps/APP-SLUG --jq .id` prints it")
    where = Path(path)
    if not where.is_dir():
        raise CannotRunError(f"{path} is not a folder")
    root = Git.toplevel(where)
    if not (root / DATA_DIR).is_dir() and not (root / RECORD).is_file():
        raise CannotRunError(f"{root} is not a modelreg registry (no {DATA_DIR}/, no {RECORD})",
                             hint="run doctor in a registry's clone, or start one with "
                                  "`modelreg init`")
    notes: list[str] = []
    problems: list[Problem] = []
    org = None
    with Registry(root) as registry:
        record_problems, org = _record(root)
        problems += record_problems
        problems += _placeholders(root)
        config = None
        try:
            config = registry.config
        except ConfigError as exc:
            for f in exc.findings:
                problems.append(Problem("policy-data", f.message, "correct it; `modelreg "
                                        "validate` lists the same findings", f.file, f.line))
        problems += _dvc_remote(root, probe_seconds)
        problems += _pins(root)
        if config is not None:
            problems += [Problem("codeowners", reason, "run `modelreg codeowners --write` and "
                                 "commit it", codeowners.PATH)
                         for reason in codeowners.check(registry)]
            problems += _tag_signing(root, config)
        else:
            notes.append("CODEOWNERS and tag signing were not checked: the policy data must "
                         "pass its schema first")
        stages = config.stage_names if config is not None else DEFAULT_STAGES
        protected = config.protected_branch if config is not None else "main"
    repo = repository or _repository(root) or os.environ.get("GITHUB_REPOSITORY") or ""
    if not re.fullmatch(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+", repo):
        repo = f"{org or 'OWNER'}/REPO"
        notes.append(f"the settings name {repo}: no GitHub `origin` remote says which "
                     "repository this is; replace REPO, or pass --github-repo OWNER/REPO")
    if app_id is None:
        notes.append("the tag ruleset's bypass actor needs the registry's GitHub App id: "
                     "`gh api apps/APP-SLUG --jq .id`, then pass --app-id ID")
    settings = github_settings(repo, app_id=app_id, protected=protected,
                               environments=(TAG_ENVIRONMENT, *stages))
    return Diagnosis(root, __version__, repo, tuple(problems), settings, tuple(notes))


# --- the checks ---------------------------------------------------------------------------
def _version_key(version: str) -> tuple:
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in re.split(r"[.+-]", version))


def _upgrade_or_install(pinned: str) -> str:
    if _version_key(pinned) < _version_key(__version__):
        return f"run `modelreg upgrade` (this is modelreg {__version__})"
    return f"install modelreg=={pinned} to work on this registry, or pin {__version__}"


def _record(root: Path) -> tuple[list[Problem], str | None]:
    try:
        record = read_record(root)
    except InputError as exc:
        return [Problem("record", exc.message, exc.hint or "", RECORD)], None
    if record is None:
        return [Problem("record", "missing: nothing records the release that wrote "
                        "this registry's defaults",
                        f"restore it from git history (`git log --all -- {RECORD}`); "
                        "without it `modelreg upgrade` cannot merge newer defaults", RECORD)], None
    if record.version != __version__:
        return [Problem("record", f"written by modelreg {record.version}; this is "
                        f"{__version__}", _upgrade_or_install(record.version), RECORD,
                        _line_of(root / RECORD, "modelreg:", start=True))
                ], record.org
    return [], record.org


def _data_files(root: Path) -> Iterator[tuple[str, list[str]]]:
    folder = root / DATA_DIR
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".yml"):
            try:
                yield path.relative_to(root).as_posix(), path.read_text("utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                continue                 # the schema check reports an unreadable file


def _placeholders(root: Path) -> list[Problem]:
    """One problem per placeholder entry (a ``placeholder-`` person with its marked lines is
    one), and one per other marked line."""
    out = []
    for rel, lines in _data_files(root):
        block = -1                       # indentation of the placeholder entry being read
        for n, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue                 # the starters' instructions mention the marker
            indent = len(line) - len(line.lstrip())
            if block >= 0 and indent > block:
                continue                 # inside an entry already reported
            block = -1
            login = _LOGIN.search(line.split("#")[0])
            if login is not None:
                block = indent
                out.append(Problem("placeholders", f"{login.group()} is a placeholder",
                                   "replace it with a real person's GitHub login, name and "
                                   "e-mail (or remove it)", rel, n))
            elif PLACEHOLDER_COMMENT in line:
                value = line.split("#")[0].strip()
                out.append(Problem("placeholders", f"placeholder value {value}",
                                   "put the real value and delete the "
                                   f"`{PLACEHOLDER_COMMENT}` comment", rel, n))
    return out


def _dvc_remote(root: Path, probe_seconds: float) -> list[Problem]:
    config = ".dvc/config"
    if not (root / config).is_file():
        return [Problem("dvc-remote", "not a DVC project: the weights have nowhere to go",
                        "`dvc init` and `dvc remote add -d storage URL`", config)]
    where = dvc.storage(root)
    if not where.remote or not where.url:
        return [Problem("dvc-remote", "no default DVC remote: `register` cannot push weights "
                        "and deploys cannot pull them",
                        "`dvc remote add -d storage URL` and "
                        "`dvc remote modify storage verify true`", config)]
    out = []
    options = dvc.remote_options(root, where.remote)
    line = _line_of(root / config, f'remote "{where.remote}"')
    if options.get("verify", "").lower() != "true":
        out.append(Problem("dvc-remote", f"remote {where.remote!r} does not set verify = true: "
                           "DVC would check out a corrupted object without a word",
                           f"`dvc remote modify {where.remote} verify true` and commit "
                           f"{config}", config, line))
    if where.folder is not None:
        if not where.folder.is_dir():
            out.append(Problem("dvc-remote", f"remote {where.remote!r} is the local folder "
                               f"{where.folder}, which does not exist",
                               "create it (or mount the share), or point the remote at the "
                               f"storage: `dvc remote modify {where.remote} url URL`",
                               config, line))
        return out
    endpoint = dvc.endpoint_of(where.url, options)
    if endpoint is not None:
        host, port = endpoint
        why = dvc.probe(host, port, probe_seconds)
        if why is not None:
            out.append(Problem("dvc-remote", f"remote {where.remote!r} ({where.url}) does not "
                               f"answer at {host}:{port}: {why}",
                               "check the URL (and `endpointurl`), the network and DNS from "
                               "here; `dvc push` and every deploy need it", config, line))
    return out


def _line_of(path: Path, needle: str, *, start: bool = False) -> int | None:
    try:
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if line.startswith(needle) if start else needle in line:
                return n
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _pins(root: Path) -> list[Problem]:
    out = []
    folder = root / WORKFLOWS
    workflows = sorted(p for p in folder.glob("*") if p.suffix in (".yml", ".yaml")) \
        if folder.is_dir() else []
    if not (folder / "check.yml").is_file():
        out.append(Problem("pins", "the pull-request check workflow is missing: nothing "
                           "judges pull requests", "run `modelreg upgrade` to restore it (or "
                           "copy it from a new `modelreg init`)", f"{WORKFLOWS}check.yml"))
    files = [p.relative_to(root).as_posix() for p in workflows]
    if (root / PRE_COMMIT).is_file():
        files.append(PRE_COMMIT)
    for rel in files:
        try:
            lines = (root / rel).read_text("utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        pinned = False
        for n, line in enumerate(lines, 1):
            code = line.split(" #")[0]
            if line.lstrip().startswith("#"):
                continue
            for version in PIN.findall(code):
                pinned = True
                if version != __version__:
                    out.append(Problem("pins", f"installs modelreg {version}; this is "
                                       f"{__version__}", _upgrade_or_install(version), rel, n))
            if _FROM_CHECKOUT.search(code) or "pip install ./" in code:
                pinned = True
                out.append(Problem("pins", "installs modelreg from a checkout, not a release: "
                                   "what judges the registry is whatever that checkout "
                                   "holds",
                                   f'install "modelreg=={__version__}" instead', rel, n))
            elif ("pip install" in code and "modelreg" in code and "modelreg==" not in code):
                pinned = True
                out.append(Problem("pins", "installs modelreg without pinning a release",
                                   f'install "modelreg=={__version__}"', rel, n))
        if rel == PRE_COMMIT and not pinned:
            out.append(Problem("pins", "the hooks do not pin a modelreg release",
                               f'add "modelreg=={__version__}" to each hook\'s '
                               "additional_dependencies", rel))
    return out


def _tag_signing(root: Path, config: RegistryConfig) -> list[Problem]:
    signing = config.tag_signing
    if not signing.required:
        return []
    line = _line_of(root / TAG_SIGNING_FILE, "allowed_signers", start=True)
    todo = ("add the reconcile job's public key to allowed_signers in a pull request "
            "governance approves (docs/guide.md, \"Signing the registry's tags\")")
    if not signing.signers:
        return [Problem("tag-signing", "signed_tags is true and no key may sign registry tags: "
                        "reconcile refuses to tag and the gate trusts no tag", todo,
                        TAG_SIGNING_FILE, line)]
    real = [s for s in signing.signers if not _placeholder_signer(s.id, s.key)]
    if not real:
        return [Problem("tag-signing", "signed_tags is true and every allowed signer is a "
                        "placeholder", todo, TAG_SIGNING_FILE, line)]
    return []


def _placeholder_signer(ident: str, key: str) -> bool:
    return (ident.startswith(PLACEHOLDER) or PLACEHOLDER in key
            or "AAAA..." in key or not key.strip())


# --- the GitHub settings -----------------------------------------------------------------
def _repository(root: Path) -> str | None:
    url = Git(root).run("remote", "get-url", "origin", check=False).strip()
    match = _GITHUB_URL.search(url)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def github_settings(repository: str, *, app_id: int | None, protected: str = "main",
                    environments: tuple[str, ...] = (TAG_ENVIRONMENT, *DEFAULT_STAGES)
                    ) -> tuple[Setting, ...]:
    """The rulesets and environments, as the bodies of GitHub's REST API
    (``POST /repos/{owner}/{repo}/rulesets``, ``PUT .../environments/{name}``)."""
    branches = ["~DEFAULT_BRANCH"]
    if protected != "main":
        branches.append(f"refs/heads/{protected}")
    branch_ruleset = {
        "name": "modelreg: protected branch",
        "target": "branch",
        "enforcement": "active",
        "bypass_actors": [],                         # nobody: not admins, not the App
        "conditions": {"ref_name": {"include": branches, "exclude": []}},
        "rules": [
            {"type": "deletion"},
            {"type": "non_fast_forward"},
            {"type": "pull_request", "parameters": {
                "required_approving_review_count": 1,
                "require_code_owner_review": True,
                "dismiss_stale_reviews_on_push": True,
                "require_last_push_approval": True,
                "required_review_thread_resolution": False,
                # a stage tag's evidence is bound to the merge commit: no squash, no rebase
                "allowed_merge_methods": ["merge"]}},
            {"type": "required_status_checks", "parameters": {
                "strict_required_status_checks_policy": True,
                "required_status_checks": [{"context": CHECK_CONTEXT,
                                            "integration_id": GITHUB_ACTIONS_APP_ID}]}},
        ],
    }
    tags = {"ref_name": {"include": [f"refs/tags/{p}" for p in TAG_PATTERNS], "exclude": []}}
    # A bypass actor bypasses every rule of its ruleset: creation (the App may) and update
    # and deletion (nobody may) are two rulesets.
    tag_creation = {
        "name": "modelreg: registry tags are created by the App",
        "target": "tag",
        "enforcement": "active",
        # reconcile pushes as the App, from the registry-tags environment
        "bypass_actors": [{"actor_id": app_id, "actor_type": "Integration",
                           "bypass_mode": "always"}],
        "conditions": tags,
        "rules": [{"type": "creation"}],
    }
    tag_immutable = {
        "name": "modelreg: registry tags are never moved or deleted",
        "target": "tag",
        "enforcement": "active",
        "bypass_actors": [],
        "conditions": tags,
        "rules": [{"type": "update"}, {"type": "deletion"}, {"type": "non_fast_forward"}],
    }
    base = f"repos/{repository}"
    settings = [Setting("branch ruleset", "branch-ruleset.json", "POST", f"{base}/rulesets",
                        branch_ruleset),
                Setting("tag ruleset: creation", "tag-creation-ruleset.json", "POST",
                        f"{base}/rulesets", tag_creation,
                        "" if app_id else "the registry's GitHub App id (--app-id)"),
                Setting("tag ruleset: update and deletion", "tag-immutable-ruleset.json",
                        "POST", f"{base}/rulesets", tag_immutable)]
    # Only the protected branch may use each environment: a policy naming it, not "protected
    # branches", which admits every branch of a repository whose branches no classic
    # protection rule covers (rulesets are not such rules).
    for name in dict.fromkeys(environments):
        settings.append(Setting(f"environment {name}", f"environment-{name}.json", "PUT",
                                f"{base}/environments/{name}",
                                {"deployment_branch_policy": {"protected_branches": False,
                                                              "custom_branch_policies": True}}))
        settings.append(Setting(f"environment {name}: only {protected}",
                                f"environment-{name}-branch.json", "POST",
                                f"{base}/environments/{name}/deployment-branch-policies",
                                {"name": protected, "type": "branch"}))
    return tuple(settings)


__all__ = ["doctor", "Diagnosis", "Problem", "Setting", "github_settings"]
