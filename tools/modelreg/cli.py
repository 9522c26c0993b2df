"""The command line: the only module that prints or exits.

Each command parses its options, calls the library, and hands the result to a reporter.
Errors are mapped to exit codes in one place, :func:`main`.

One vocabulary everywhere: ``--stage STAGE`` (checked against the registry's stages),
``NAME@VERSION`` for one version, ``--reviews FILE`` for GitHub review JSON, ``--format``
(``--json`` is its short form), ``-m/--message`` for why, and ``-C PATH`` before or after
the command. Old spellings still work as hidden aliases that print a deprecation notice.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from modelreg.core.errors import (
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    ModelregError,
    printable,
    printable_lines,
)
from modelreg.core.files import write_atomic
from modelreg.core.metrics import meets_threshold, threshold_sign
from modelreg.core.records import Report
from modelreg.core.release import __version__
from modelreg.store.registry import Registry, open_registry

# Use cases, reporters and the policy layer are imported inside each command: importing them
# all at start-up adds ~0.1 s (measured: `python -X importtime -m modelreg ls`), which read
# commands such as `ls` must not pay.


def _registry(path: str) -> Registry:
    return open_registry(path)


def _stage(registry: Registry, stage: str | None, *, registered: bool = False) -> str | None:
    """``--stage`` checked against the registry's stages: an unknown one is a usage error."""
    if stage is None:
        return None
    config = registry.config
    known = config.stage_order if registered else config.stage_names
    if stage not in known:
        raise click.BadParameter(
            f"unknown stage {stage!r}; known stages: {', '.join(known) or 'none'} "
            f"(from {config.file('environments')})", param_hint="'--stage'")
    return stage


# --- the shared vocabulary ------------------------------------------------------------------
def _deprecated(old: str, new: str) -> None:
    click.echo(f"warning: {old} is deprecated; use {new}", err=True)


class _Sets(click.Option):
    """An option that fills another one: ``--json`` sets ``--format json``; an old spelling
    (``--env``) fills its new one (``--stage``) and prints a one-line deprecation notice.

    It writes into the parsed options before the target option reads them, so the target's
    own rules (required, type) apply to the value however it was spelled.
    """

    def __init__(self, decls: list[str], *, dest: str, new: str, value: str | None = None,
                 notice: bool = True, **kw: Any) -> None:
        super().__init__(decls, expose_value=False, hidden=notice, **kw)
        self.dest, self.new, self.fixed, self.notice = dest, new, value, notice

    def handle_parse_result(self, ctx: click.Context, opts: Any, args: list[str]) -> Any:
        if self.name in opts and not ctx.resilient_parsing:
            value = self.fixed if self.fixed is not None else opts[self.name]
            if self.dest in opts and opts[self.dest] != value:
                raise click.UsageError(f"{self.opts[0]} and {self.new} {opts[self.dest]} "
                                       "contradict each other", ctx=ctx)
            opts[self.dest] = value
            if self.notice:
                _deprecated(self.opts[0], self.new)
        return super().handle_parse_result(ctx, opts, args)


def _renamed(old: str, new: str, dest: str) -> Callable[[Any], Any]:
    """Keep ``old`` working as a hidden alias of ``new``."""
    return click.option(old, f"_{dest}_{old.strip('-')}", cls=_Sets, dest=dest, new=new)


def _format_option(*forms: str, default: str = "text", help: str = "") -> Callable[[Any], Any]:
    """``--format FORM`` (``--json`` is its short form); the command gets ``fmt``."""
    def decorate(f: Any) -> Any:
        f = click.option("--json", "_json", cls=_Sets, dest="fmt", new="--format",
                         value="json", notice=False, is_flag=True,
                         help="Short for --format json.")(f)
        return click.option("--format", "fmt", type=click.Choice(forms), default=default,
                            show_default=True, help=help or "The output's form.")(f)
    return decorate


def _set_repo(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["repo"] = value


def _repo_option() -> click.Option:
    return click.Option(["-C", "--repo", "_repo"], metavar="PATH", expose_value=False,
                        callback=_set_repo,
                        help="Run in the registry at PATH (default: the current directory).")


class _Command(click.Command):
    """A modelreg command: ``-C PATH`` works after the command name too."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.params.append(_repo_option())


class _Group(click.Group):
    """The top-level group and its subgroups (``policy``), whose commands are _Command."""

    command_class = _Command
    group_class = type          # subgroups are _Group too

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        if not any(p.name == "repo" for p in self.params):      # the top level has its own
            self.params.append(_repo_option())


class _LegacyArgument(click.Argument):
    """A positional kept for the old ``NAME VERSION`` form: accepted, not shown in usage."""

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        return []


class _Target(click.ParamType):
    """``NAME@VERSION`` (or ``NAME[@VERSION]`` when the version is optional) → (name, version)."""

    name = "NAME@VERSION"

    def __init__(self, version_required: bool = True) -> None:
        self.version_required = version_required

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[str, str | None]:
        if isinstance(value, tuple):
            return value
        name, at, version = str(value).partition("@")
        if not name or (at and not version) or (self.version_required and not at):
            self.fail(f"{value!r} is not NAME@VERSION (e.g. credit-default@1.1.0)", param, ctx)
        return name, version or None


def _one_version(target: tuple[str, str | None], legacy: str | None, *,
                 required: bool = True) -> tuple[str, str | None]:
    """The version a command names, from ``NAME@VERSION`` or the old ``NAME VERSION``."""
    name, version = target
    if legacy is not None:
        if version is not None:
            raise click.UsageError(f"give NAME@VERSION or NAME VERSION, not both "
                                   f"({name}@{version} {legacy})")
        _deprecated("NAME VERSION", "NAME@VERSION")
        return name, legacy
    if required and version is None:
        raise click.BadParameter(f"{name!r} is not NAME@VERSION (e.g. {name}@1.0.0)",
                                 param_hint="NAME@VERSION")
    return name, version


def _json_out(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False, default=str))


def _emit_report(report: Report, fmt: str, strict: bool = False) -> int:
    """Print a findings report (text or JSON) and return the exit code it implies."""
    if fmt == "json":
        _json_out(report.to_json(strict))
    else:
        for f in sorted(report.findings, key=lambda f: f.sort_key()):
            click.echo(str(f))
        for note in report.notes:
            click.echo(f"note: {printable(note)}", err=True)
        verdict = "ok" if report.ok(strict) else "FAILED"
        click.echo(f"{report.command}: {report.files} files, {report.errors} errors, "
                   f"{report.warnings} warnings — {verdict}", err=True)
    return EXIT_OK if report.ok(strict) else EXIT_FINDINGS


_TEXT_JSON = ("text", "json")
_ENGINE_HELP = "Policy engine: auto, regorus, opa-lib, opa or opa-server."

# --help uses up to this many columns (the terminal permitting); docs/commands.md is rendered
# at exactly this width (tools/docs_commands.py).
HELP_WIDTH = 100


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"],
                                           "max_content_width": HELP_WIDTH})
@click.version_option(__version__, prog_name="modelreg")
@click.option("-C", "--repo", "repo", default=".", metavar="PATH",
              help="Run in the registry at PATH (default: the current directory); also "
                   "accepted after the command.")
@click.pass_context
def cli(ctx: click.Context, repo: str) -> None:
    """modelreg: a git repository that is a model registry.

    Exit codes: 0 ok, 1 findings (schema or policy failed, request refused), 2 usage error,
    3 could not run (git, DVC, remote, engine), 4 internal error.

    \b
    Example:
      modelreg -C path/to/registry show credit-default@1.1.0
    """
    ctx.obj = {"repo": repo}


# --- init -------------------------------------------------------------------------------
@cli.command()
@click.argument("directory", metavar="[DIR]", default=".")
@click.option("--org", required=True, metavar="NAME",
              help="The GitHub organisation (as in github.com/NAME): team handles are @NAME/….")
@click.option("--remote", required=True, metavar="URL",
              help="The DVC storage for the weights (s3://…, gs://…, azure://…, or a path).")
@click.pass_obj
def init(obj: dict, directory: str, org: str, remote: str) -> None:
    """Start a new registry in DIR from this release's defaults; never overwrites.

    Writes models/, policies/ (default rules and their tests), policies/data/ (starters:
    replace the placeholder people and teams), schemas/, .github/ (workflows that install
    this exact modelreg release, CODEOWNERS), .dvc/ (the remote, verify = true),
    .pre-commit-config.yaml, a README and .modelreg.yaml (the release it came from).

    \b
    Example:
      modelreg init northwind-registry --org Northwind --remote s3://northwind-models/dvc
    """
    from modelreg.app.init import init as scaffold

    result = scaffold(Path(obj["repo"]) / directory, org=org, remote=remote)
    made = "new git repository" if result.new_git_repository else "git repository"
    click.echo(printable(f"created the {result.org} registry in {result.root} ({made}, "
                         f"{len(result.files)} files, modelreg {result.version})"))
    click.echo("next: replace the placeholder people and teams in policies/data/people.yaml "
               "and teams.yaml, run `modelreg codeowners --write`, commit and push "
               "(docs/start.md)")


# --- doctor, upgrade ---------------------------------------------------------------------
@cli.command()
@click.option("--github-settings", "settings", is_flag=True,
              help="Print the GitHub settings to apply (rulesets, environments) as a script: "
                   "each JSON body and the `gh api` command that sends it.")
@click.option("--app-id", "app_id", type=int, metavar="ID",
              help="The registry's GitHub App (`gh api apps/SLUG --jq .id`): the only actor "
                   "the tag ruleset lets create registry tags.")
@click.option("--github-repo", "github_repo", metavar="OWNER/REPO",
              help="The repository the settings are for (default: the origin remote's).")
@_format_option(*_TEXT_JSON, help="text, or json (every problem, and the settings under "
                "`github`).")
@click.pass_obj
def doctor(obj: dict, settings: bool, app_id: int | None, github_repo: str | None,
           fmt: str) -> None:
    """Check the registry's set-up: what is left to do, and the GitHub settings to apply.

    One line per problem, with the file (and line) and what to do: placeholder people and
    teams, policy data that fails its schema, the DVC remote (missing, unreachable, no
    verify = true), workflows and pre-commit hooks pinned to another modelreg (or to a
    checkout), CODEOWNERS out of date, no tag-signing key, .modelreg.yaml missing or from
    another release. Exit 0 when nothing needs doing, 1 when something does.

    --github-settings prints the rulesets (default branch; registry tags) and environments
    as the JSON bodies GitHub's REST API takes, each with its `gh api` command.

    
    Example:
      modelreg doctor
      modelreg doctor --github-settings --app-id 123456 > github-settings.sh
    """
    from modelreg.app.doctor import doctor as diagnose

    result = diagnose(obj["repo"], app_id=app_id, repository=github_repo)
    if fmt == "json":
        _json_out(result.to_json())
        sys.exit(EXIT_OK if result.ok else EXIT_FINDINGS)
    for p in result.problems:
        where = f"{printable(p.file)}{f':{p.line}' if p.line else ''}: " if p.file else ""
        click.echo(f"{where}{printable(p.message)} — {printable(p.hint)}",
                   err=settings)
    for note in result.notes:
        click.echo(f"note: {printable(note)}", err=True)
    if settings:
        click.echo(f"# GitHub settings for {result.repository}, from modelreg doctor "
                   f"{result.version}: run with sh (needs gh, logged in as an admin)")
        for s in result.settings:
            click.echo(f"\n# {s.name}")
            click.echo(f"cat > {s.file} <<'JSON'")
            click.echo(json.dumps(s.body, indent=2))
            click.echo("JSON")
            if s.missing:
                click.echo(f"# needs {s.missing}: run doctor again with it")
                click.echo(f"# {s.command}")
            else:
                click.echo(s.command)
    count = len(result.problems)
    click.echo(f"doctor: {count} thing{'s' if count != 1 else ''} to do — FAILED" if count
               else "doctor: nothing to do — ok", err=True)
    sys.exit(EXIT_OK if result.ok else EXIT_FINDINGS)


@cli.command()
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Say what would change (added, updated, merged, conflict, removed, kept, "
                   "unchanged) and write nothing.")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def upgrade(obj: dict, dry_run: bool, fmt: str) -> None:
    """Merge this release's defaults into the registry, as one commit on a new branch.

    Files the registry did not edit are replaced; files both edited are merged three ways
    from .modelreg.yaml's record (overlapping edits are left marked <<<<<<< for you); new
    defaults are added; workflows and pre-commit hooks are pinned to this release and
    CODEOWNERS regenerated. The commit is on the new branch modelreg-upgrade-VERSION, for a
    pull request. Refuses on uncommitted changes or when that branch exists.

    \b
    Example:
      modelreg upgrade --dry-run
      modelreg upgrade && git push origin HEAD
    """
    from modelreg.app.upgrade import upgrade as do_upgrade

    result = do_upgrade(obj["repo"], dry_run=dry_run)
    if fmt == "json":
        _json_out(result.to_json())
        return
    for c in result.changes:
        if c.action != "unchanged":
            detail = f" ({printable(c.detail)})" if c.detail else ""
            click.echo(f"{c.action:<9} {printable(c.path)}{detail}")
    unchanged = len(result.changes) - len(result.changed)
    for note in result.notes:
        click.echo(f"note: {printable(note)}", err=True)
    head = f"modelreg {result.old_version} -> {result.new_version}"
    if result.dry_run:
        click.echo(f"dry run, {head}: {len(result.changed)} file(s) would change, {unchanged} "
                   "unchanged; nothing written", err=True)
    elif result.branch is None:
        click.echo(f"nothing to do: the registry has modelreg {result.new_version}'s defaults "
                   f"({unchanged} files unchanged)", err=True)
    else:
        click.echo(printable(f"{head}: committed {str(result.commit)[:12]} on the new branch "
                             f"{result.branch} ({len(result.changed)} file(s) changed, "
                             f"{unchanged} unchanged)"))
        if result.conflicts:
            click.echo(f"next: resolve the <<<<<<< markers in "
                       f"{', '.join(printable(c.path) for c in result.conflicts)}, commit, "
                       "then push the branch and open a pull request", err=True)
        else:
            click.echo(f"next: git push origin {printable(result.branch)} and open a pull "
                       "request for governance to review", err=True)


# --- register ---------------------------------------------------------------------------
@cli.command()
@click.argument("name")
@click.option("--version", "version", required=True, metavar="X.Y.Z",
              help="The new version, X.Y.Z (SemVer, no leading 'v').")
@click.option("--weights", "weights", multiple=True, required=True, metavar="PATH",
              help="A weights file (repeatable); it is added to DVC and pushed.")
@click.option("--metrics", metavar="FILE.json",
              help="Metrics: a list (or {\"metrics\": [...]}) of rows with name, value, dataset, "
                   "split, slice.")
@click.option("--robustness", metavar="FILE", help="Robustness and security tests run on "
              "these weights: a list (or {\"robustness\": [...]}) of rows with test, result "
              "(pass, fail, conditional), date, and optionally category, metric, value, report "
              "(EVAL-06).")
@click.option("--from", "model_file", metavar="FILE.yaml",
              help="model.yaml for a new model (otherwise a starter to complete is written).")
@click.option("-m", "--message", "message",
              help="Why: recorded with the change and in its commit message.")
@click.option("--dataset", "datasets", multiple=True, metavar="ROLE:ID@REV[:PATH]",
              help="A dataset used (repeatable); ROLE is train, validation, test or "
                   "calibration; the hash comes from PATH or policies/data/datasets.yaml.")
@click.option("--config", metavar="FILE", help="The training config file (hashed; its "
              "'hyperparameters' and 'seed' are recorded).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A hyperparameter to record (repeatable).")
@click.option("--parent", metavar="[NAME@]X.Y.Z", help="The model version this one was "
              "trained from.")
@click.option("--code", metavar="PATH", help="Git checkout of the training code "
              "(default: this repository); its commit and dirty state are recorded.")
@click.option("--entrypoint", metavar="PATH", help="The training script, e.g. train.py.")
@click.option("--no-branch", is_flag=True, help="Commit on the current branch instead of "
              "register/NAME-X.Y.Z.")
@click.option("--allow-lower", is_flag=True, help="Allow a version lower than the highest "
              "registered one (a patch of an older line).")
@click.option("--allow-findings", is_flag=True, help="Register even when the registered-stage "
              "policies find errors in the new version (they are printed as warnings; the pull "
              "request's check still fails on them).")
@click.option("--engine", default="auto", show_default=True, metavar="NAME", help=_ENGINE_HELP)
@_format_option(*_TEXT_JSON)
@click.pass_obj
def register(obj: dict, name: str, version: str, weights: tuple[str, ...], metrics: str | None,
             robustness: str | None, model_file: str | None, message: str | None, datasets: tuple[str, ...],
             config: str | None, params: tuple[str, ...], parent: str | None,
             code: str | None, entrypoint: str | None, no_branch: bool, allow_lower: bool,
             allow_findings: bool, engine: str, fmt: str) -> None:
    """Register version X.Y.Z of model NAME, with its weights under DVC, on a new branch.

    Before anything is committed or pushed, the new version is judged as `modelreg check`
    will judge it at stage registered: an error refuses it (exit 1, the findings printed as
    check prints them) unless --allow-findings. The card's prose and a starter model.yaml
    are left for you to write: their findings are listed, they do not refuse. While one
    register runs, a second in the same clone is refused.

    \b
    Example:
      modelreg register credit-default --version 1.1.0 --weights model.safetensors \\
        --metrics metrics.json --dataset train:credit-train@2026.10 -m "Retrained on October data"
    """
    from modelreg.app.register import register as do_register
    from modelreg.core.yamlio import parse_yaml
    from modelreg.steps.registration import DatasetSpec, RegisterRequest

    parsed: dict[str, Any] = {}
    for p in params:
        key, eq, value = p.partition("=")
        if not eq or not key:
            raise click.BadParameter(f"{p!r} is not KEY=VALUE", param_hint="--param")
        parsed[key] = parse_yaml(value, "--param") if value else ""
    req = RegisterRequest(
        name=name, version=version, weights=list(weights), metrics=metrics,
        robustness=robustness, model_file=model_file, message=message,
        datasets=[DatasetSpec.parse(d) for d in datasets], config=config, params=parsed,
        parent=parent, code=code, entrypoint=entrypoint, branch=not no_branch,
        allow_lower=allow_lower, refuse_findings=not allow_findings, engine=engine)
    result = do_register(_registry(obj["repo"]), req)
    if fmt == "json":
        _json_out({"name": result.name, "version": result.version, "branch": result.branch,
                   "commit": result.commit, "files": list(result.files),
                   "artifacts": list(result.artifacts), "new_model": result.new_model,
                   "starter": result.starter, "pushed": result.pushed,
                   "warnings": list(result.warnings),
                   "findings": [f.to_json() for f in result.findings],
                   "dataset_entries": list(result.dataset_entries)})
        return
    click.echo(f"Registered {result.name} {result.version}"
               + (f" on branch {result.branch}" if result.branch else "")
               + f" (commit {result.commit[:12]})")
    for art in result.artifacts:
        click.echo(f"  {printable(art['path'])}  {art['format']}  {art['size']} bytes  "
                   f"sha256 {art['sha256'][:16]}…  md5 {art['md5']}")
    click.echo(f"  weights pushed to DVC remote ({result.pushed} new objects)")
    for w in result.warnings:
        click.echo(f"warning: {printable_lines(w)}", err=True)
    if result.findings:
        click.echo(f"check will report, until fixed in the pull request "
                   f"({len(result.findings)}):", err=True)
        for f in result.findings:
            click.echo(f"  {f}", err=True)
    if result.dataset_entries:
        click.echo("note: add to policies/data/datasets.yaml, under `datasets:` (in a reviewed "
                   "pull request):\n" + "".join(result.dataset_entries).rstrip("\n"), err=True)
    if result.starter:
        click.echo(f"note: models/{name}/model.yaml is a starter — complete its TODOs "
                   "(`modelreg validate` shows what is missing)", err=True)
    if result.branch:
        click.echo(f"next: git push -u origin {result.branch}  and open a pull request")


# --- ls / show --------------------------------------------------------------------------
@cli.command(name="ls")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def ls(obj: dict, fmt: str) -> None:
    """Every model: owner, risk tier, latest version, versions per stage.

    A model whose model.yaml cannot be read is listed with its error (file:line: message).
    Tags GTO reads but the registry does not (an artifact name that is not a registry
    name, GTO's @created) are listed as notes, with the reason.

    \b
    Example:
      modelreg ls --format json
    """
    from modelreg.app.read import list_models, unread_tags

    registry = _registry(obj["repo"])
    rows = list_models(registry)
    unread = unread_tags(registry)
    if fmt == "json":
        _json_out({"models": rows, **({"unread_tags": unread} if unread else {})})
        return
    for u in unread:
        click.echo(f"note: tag {printable(u['tag'])} is not read: {printable(u['reason'])}",
                   err=True)
    if not rows:
        click.echo("no models yet — `modelreg register NAME --version 1.0.0 --weights PATH`")
        return
    header = ["MODEL", "OWNER", "TIER", "EU AI ACT", "LATEST", "VERSIONS", "STAGES"]
    table = [header] + [[
        r["name"] + (" (retired)" if r.get("retired") else
                     " (deprecated)" if r["deprecated"] else ""),
        str(r["owner"] or "?"), str(r["risk_tier"] or "?"), str(r["eu_ai_act_class"] or "?"),
        str(r["latest"] or "-"), str(r["versions"]),
        ", ".join(f"{s}={v}" for s, v in r["stages"].items()) or "-"] for r in rows]
    _print_table(table)
    for r in rows:
        if r.get("error"):
            click.echo(f"{r['name']}: error: {printable(r['error'])}")
    for r in rows:
        counts = r.get("findings") or {}
        if counts.get("open"):
            late = f", {counts['past_due']} past due" if counts.get("past_due") else ""
            high = f", {counts['high']} high" if counts.get("high") else ""
            click.echo(f"{r['name']}: {counts['open']} open validation finding(s){high}{late}")
    _flag_untrusted([t for r in rows for t in r.get("untrusted_tags") or []])


def _flag_untrusted(flagged: list[dict]) -> None:
    """One line per registry tag that counts nowhere (store/trust.py), before the answer."""
    for t in flagged:
        click.echo(printable(f"UNTRUSTED tag {t['tag']} (counts nowhere): "
                             + "; ".join(t["reasons"])))


def _print_table(table: list[list[str]]) -> None:
    table = [[printable(cell) for cell in row] for row in table]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


@cli.command()
@click.argument("target", metavar="NAME[@VERSION]", type=_Target(version_required=False))
@click.option("--at", "at", metavar="DATE", help="As of this date (YYYY-MM-DD, end of day "
              "UTC, or an RFC 3339 time): what each stage held then.")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def show(obj: dict, target: tuple[str, str | None], at: str | None, fmt: str) -> None:
    """A model, its versions, artifacts with hashes, lineage, metrics and stages.

    With NAME@VERSION, only that version; exit 1 when its record cannot be read.

    \b
    Example:
      modelreg show credit-default@1.1.0 --at 2026-06-30
    """
    from modelreg.app.read import show as do_show

    name, version = target
    data = do_show(_registry(obj["repo"]), name, version, at=at)
    broken = version is not None and any(e.get("error") for e in data["versions"])
    if fmt == "json":
        _json_out(data)
        sys.exit(EXIT_FINDINGS if broken else EXIT_OK)
    m = data["model"]
    risk = m.get("risk") or {}
    _flag_untrusted(data.get("untrusted_tags") or [])
    click.echo(printable(f"{data['name']} — {m.get('title', '')}"))
    click.echo(printable(f"  owner: {(m.get('owner') or {}).get('team')}   risk tier: "
                         f"{risk.get('tier')}   EU AI Act: "
                         f"{(risk.get('eu_ai_act') or {}).get('class')}"))
    stages = ", ".join(f"{s}={v}" for s, v in data["stages"].items()) or "none"
    when = f" (as of {data['at']})" if data.get("at") else ""
    click.echo(printable(f"  stages{when}: {stages}")
               + ("   DEPRECATED" if data["deprecated"] else ""))
    retired = data.get("retirement")
    if retired is not None:
        click.echo(printable(f"  RETIRED {retired.get('date') or '(no date)'}: "
                             f"{retired.get('reason') or '(no reason)'}"
                             + (f"  (replaced by {retired['replaced_by']})"
                                if retired.get("replaced_by") else "")))
    findings = data.get("validation_findings") or []
    if findings:
        high = sum(1 for f in findings if f["severity"] == "high")
        late = sum(1 for f in findings if f["past_due"])
        click.echo(f"  open validation findings: {len(findings)} ({high} high, {late} past due)")
        for f in findings:
            click.echo(printable(f"    {f['id']}  {f['severity']}  due {f['due']}"
                                 + ("  PAST DUE" if f["past_due"] else "")
                                 + f"  {f['version'] or 'every version'}  {f['title']}"
                                 f"  (owner {f['owner']})"))
    for entry in data["versions"]:
        rec = entry.get("record") or {}
        flags = ["registered" if entry["registered"] else "not yet tagged"] + entry["stages"]
        click.echo("\n" + printable(f"  {entry['version']}  ({', '.join(flags)})  "
                                    f"{rec.get('created_at', '')}"))
        if entry.get("error"):
            click.echo(f"    error: {printable(entry['error'])}")
        for a in rec.get("artifacts") or []:
            click.echo(printable(f"    artifact {a.get('path')}  {a.get('format')}  "
                                 f"{a.get('size')} B"))
            click.echo(printable(f"      sha256 {a.get('sha256')}  md5 {a.get('md5')}"))
        code = rec.get("code") or {}
        if code:
            click.echo(printable(f"    code {code.get('commit')}")
                       + ("  (dirty)" if code.get("dirty") else ""))
        if rec.get("parent"):
            click.echo(printable(f"    parent {rec['parent']['model']}@{rec['parent']['version']}"))
        for d in rec.get("datasets") or []:
            click.echo(printable(f"    data {d.get('role'):<10} {d.get('id')}@{d.get('revision')}  "
                                 f"sha256 {str(d.get('sha256'))[:16]}…"))
        for row in rec.get("metrics") or []:
            thr = ""
            ok = meets_threshold(row)
            if ok is not None:
                thr = (f"  (threshold {threshold_sign(row.get('direction'))} {row['threshold']}: "
                       f"{'met' if ok else 'NOT MET'})")
            click.echo(printable(f"    metric {row.get('name')}={row.get('value')}  "
                                 f"{row.get('dataset')}/{row.get('split')}/{row.get('slice')}{thr}"))
    if data.get("champion"):
        _echo_champion(data["versions"][0]["version"], data["champion"])
    sys.exit(EXIT_FINDINGS if broken else EXIT_OK)


def _echo_champion(version: str, champion: dict) -> None:
    """The version beside the one it takes production from (EVAL-05 judges the tolerance)."""
    click.echo("\n" + printable(f"  against {champion['version']} (in {champion['stage']} "
                                "before it), on what both report:"))
    for row in champion.get("comparison") or []:
        worse = row.get("worse_by")
        verdict = "direction unknown" if worse is None else \
            f"worse by {worse:.4f}" if worse > 0 else "not worse"
        click.echo(printable(f"    {row['metric']} {row.get('dataset')}/{row.get('split')}/"
                             f"{row.get('slice')}: {champion['version']} {row['champion']} -> "
                             f"{version} {row['challenger']}  ({verdict})"))
    if not champion.get("comparison"):
        click.echo("    no metric in common" + ("" if champion.get("record") else
                                                f" ({champion['version']}'s record cannot be read)"))


# --- validate ---------------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@_format_option(*_TEXT_JSON, help="text, or json (the versioned report, "
                "schemas/report.schema.json).")
@click.pass_obj
def validate(obj: dict, paths: tuple[str, ...], fmt: str) -> None:
    """Validate model.yaml, version files and stages.yaml against schemas/.

    \b
    Example:
      modelreg validate models/credit-default
    """
    from modelreg.app.validate import validate as do_validate

    report = do_validate(_registry(obj["repo"]), list(paths) or None)
    sys.exit(_emit_report(report, fmt))


# --- policy: check, policy test, policy explain -------------------------------------------
@cli.command()
@click.option("--stage", metavar="STAGE",
              help="Check every version at this stage: registered or one of the registry's "
                   "stages (default: the stage each version holds or asks for in "
                   "stages.yaml, else registered).")
@click.option("--base", "base", metavar="REF",
              help="Judge the work tree's records by REF's policies, policy data, schemas, "
                   "card template and CODEOWNERS (a pull request's base commit); also the "
                   "default of --changed-since. Default: where HEAD forked from the protected "
                   "branch; on the protected branch, the work tree's own rules.")
@click.option("--changed-since", "changed_since", metavar="REF",
              help="Only the models changed since REF (git diff REF...HEAD plus the work "
                   "tree). Default: --base when given, else every model.")
@click.option("--engine", default="auto", show_default=True, metavar="NAME", help=_ENGINE_HELP)
@click.option("--opa-url", "opa_url", metavar="URL",
              help="OPA server for --engine opa-server (default $MODELREG_OPA_URL or "
                   "http://localhost:8181).")
@_format_option("text", "json", "github", help="text, json (schemas/report.schema.json) or "
                "github (annotations + $GITHUB_STEP_SUMMARY).")
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@click.option("--reviews", "reviews", metavar="FILE",
              help="The pull request's reviews (JSON of GitHub's list-reviews endpoint): "
                   "runs the approval policy.")
@click.option("--pr-author", "pr_author", metavar="LOGIN", help="The pull request's author.")
@click.option("--head", "head", metavar="SHA", help="The pull request's head commit "
              "(approvals on older commits are stale).")
@click.option("--pr", "pr", type=int, metavar="N", help="The pull request's number.")
@click.option("--github", "github", is_flag=True,
              help="Fetch the reviews of pull request --pr N from GitHub (every page), and "
                   "its author and head unless given: $GITHUB_REPOSITORY, $GITHUB_TOKEN or "
                   "$GH_TOKEN, $GITHUB_API_URL.")
@click.option("--shard", "shard", metavar="K/N",
              help="Check only shard K of N of every model (by a SHA-256 of the model's "
                   "name, the same on every machine); the JSON report records what `modelreg "
                   "report merge` needs to give the whole check's report. Every model of the "
                   "shard, with --base too; not with --changed-since.")
@click.pass_obj
def check(obj: dict, stage: str | None, base: str | None, changed_since: str | None,
          engine: str, opa_url: str | None, fmt: str, strict: bool,
          reviews: str | None, pr_author: str | None, head: str | None, pr: int | None,
          github: bool, shard: str | None) -> None:
    """Schema and policy check of the registry (the pull-request status check).

    The records are the work tree's; the rules are the base revision's, so a pull request
    that changes the rules is judged by the old ones (the change applies once merged).

    \b
    Example:
      modelreg check --base "$BASE_SHA" --format github \\
        --reviews reviews.json --pr-author alice-ds --head "$HEAD_SHA" --pr 42
      modelreg check --base "$BASE_SHA" --format github --github --pr 42 --head "$HEAD_SHA"
    """
    from modelreg.app.check import check as do_check
    from modelreg.app.check import default_base

    part = None
    if shard is not None:
        from modelreg.core.shards import parse as parse_shard

        try:
            part = parse_shard(shard)
        except ModelregError as exc:
            raise click.BadParameter(exc.message, param_hint="'--shard'") from None
        if changed_since is not None:
            raise click.UsageError("--shard splits the full check; a pull request's check "
                                   "(--changed-since) is already small: run it without "
                                   "--shard")
    registry = _registry(obj["repo"])
    if changed_since is None and part is None:
        changed_since = base
    if base is None:
        base = default_base(registry)
    judge = registry.at(base) if base else registry
    stage = _stage(judge, stage, registered=True)
    review = _review(registry, reviews, pr_author, head, changed_since or base, pr,
                     judge=judge, github=github)
    result = do_check(registry, stage=stage, changed_since=changed_since, base=judge.rev,
                      engine=engine, opa_url=opa_url, review=review, shard=part)
    _print_check(result, fmt, strict)


def _print_check(result: Any, fmt: str, strict: bool) -> NoReturn:
    """A check's result (``check`` or ``report merge``) printed by ``fmt``'s reporter, the
    job summary written under ``--format github``; exits with the code the result implies."""
    from modelreg.render.report import markdown_summary, reporter, summary_line

    click.echo(reporter(fmt)(result, strict), nl=False)
    if fmt == "github" and os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as fh:
            fh.write(markdown_summary(result, strict))
    if fmt != "json":
        click.echo(summary_line(result, strict), err=True)
    sys.exit(EXIT_OK if result.ok(strict) else EXIT_FINDINGS)


@cli.group()
def report() -> None:
    """Reports of `modelreg check`: merge the shards of a full check.

    \b
    Example:
      modelreg report merge shard-*.json --format github
    """


@report.command(name="merge")
@click.argument("files", nargs=-1, required=True, metavar="FILE...",
                type=click.Path(dir_okay=False))
@_format_option("text", "json", "github", help="text, json (schemas/report.schema.json) or "
                "github (annotations + $GITHUB_STEP_SUMMARY).")
@click.option("--strict", is_flag=True, help="Warnings fail too.")
def report_merge(files: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Merge shard reports into the whole check's report and exit code.

    FILE... are the JSON reports of `modelreg check --shard K/N`, one per shard. The output
    is the report `modelreg check` gives for every model (findings, summary, exit code).
    Refused (exit 3) when a shard is missing or given twice, or the reports are of another
    shard count, commit, base, stage or modelreg release; a file that is no shard's report
    is a usage error (exit 2).

    \b
    Example:
      modelreg report merge shard-1.json shard-2.json shard-3.json --format github
    """
    from modelreg.app.check import merge

    texts = []
    for name in files:
        try:
            texts.append((name, Path(name).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"{name}: {exc}", param_hint="FILE") from None
    _print_check(merge(texts), fmt, strict)


@cli.group()
def policy() -> None:
    """The Rego policies: run their unit tests, explain a rule.

    \b
    Example:
      modelreg policy explain EVAL-01
    """


@policy.command(name="test")
@click.option("--engine", default="auto", show_default=True, metavar="NAME", help=_ENGINE_HELP)
@click.option("--opa-url", "opa_url", metavar="URL", help="OPA server for --engine opa-server.")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def policy_test(obj: dict, engine: str, opa_url: str | None, fmt: str) -> None:
    """Run every test_* rule of policies/*_test.rego (todo_* are skipped), like opa test -v.

    \b
    Example:
      modelreg policy test --engine opa
    """
    from modelreg.policy.engines import create_engine, load_policy_set

    registry = _registry(obj["repo"])
    policy_set = load_policy_set(registry, tests=True)
    eng = create_engine(engine, opa_url=opa_url)
    eng.load(policy_set)
    results = eng.run_tests()
    counts = {s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "skip", "error")}
    if fmt == "json":
        _json_out({"engine": eng.name, "results": [r.to_json() for r in results], **counts})
    else:
        for r in results:
            label = {"pass": "PASS", "fail": "FAIL", "skip": "SKIPPED", "error": "ERROR"}[r.status]
            extra = f": {printable(r.message)}" if r.message else ""
            click.echo(f"{r.file}: data.{r.package}.{r.name}: {label} "
                       f"({r.duration_ms:.1f}ms){extra}")
        click.echo("-" * 80)
        click.echo(f"{eng.name}: PASS: {counts['pass']}/{len(results)}"
                   + (f"  FAIL: {counts['fail']}" if counts["fail"] else "")
                   + (f"  ERROR: {counts['error']}" if counts["error"] else "")
                   + (f"  SKIPPED: {counts['skip']}" if counts["skip"] else ""))
    if not results:
        raise click.ClickException("no policy tests found in policies/*_test.rego")
    sys.exit(EXIT_FINDINGS if counts["fail"] or counts["error"] else EXIT_OK)


@policy.command(name="explain")
@click.argument("rule_id", metavar="RULE-ID")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def policy_explain(obj: dict, rule_id: str, fmt: str) -> None:
    """What a rule checks, the stage it gates and where its data comes from.

    \b
    Example:
      modelreg policy explain EVAL-01 --format json
    """
    from modelreg.policy.engines import load_policy_set
    from modelreg.policy.explain import explain

    info = explain(load_policy_set(_registry(obj["repo"])), rule_id)
    if fmt == "json":
        _json_out(info)
        return
    click.echo(f"{info['id']}: {info.get('title', '')}")
    click.echo(f"  checks:    {info.get('checks', '')}")
    click.echo(f"  gate:      {info.get('stage')} (applies to {', '.join(info['applies_to'])})")
    click.echo(f"  severity:  {info.get('severity')}"
               + ("  (waivable by an approved exception)" if info.get("waivable") else
                  "  (cannot be waived)"))
    click.echo(f"  data:      {'; '.join(str(d) for d in info.get('data') or [])}")
    reg = info.get("regulation") or {}
    click.echo(f"  serves:    EU AI Act {reg.get('eu_ai_act', '-')}; NIST AI RMF "
               f"{reg.get('nist_ai_rmf', '-')}; SR 11-7 {reg.get('sr_11_7', '-')}")
    elsewhere = {"schema": "schemas/ (modelreg validate)",
                 "card": "tools/modelreg/app/cards.py (modelreg card --check)",
                 "verify": "modelreg verify"}
    where = info["implemented_in"] or ([elsewhere[info["check"]]]
                                       if info.get("check") in elsewhere else [])
    click.echo(f"  code:      {', '.join(where)}")
# --- end of policy block ------------------------------------------------------------------


# --- sign-off and promotion -------------------------------------------------------------
def _review(registry: Registry, reviews: str | None, pr_author: str | None, head: str | None,
            base: str | None, pr: int | None, judge: Registry | None = None,
            github: bool = False) -> dict | None:
    """The sign-off evidence from --reviews/--pr-author/--head (all three, or none), or with
    --github from GitHub's pull request --pr (--pr-author and --head default to its own).

    Who is who (people and teams in the configuration) comes from ``judge``, the revision
    whose rules judge the change: a pull request cannot make its author's teammate a code
    owner."""
    from modelreg.policy.reviews import review_input

    fetched = None
    if github:
        if pr is None or reviews is not None:
            raise click.UsageError("--github needs --pr N and no --reviews")
        from modelreg.policy.reviews import open_pull_request
        from modelreg.store.github import GitHub

        author, pr_head, fetched = open_pull_request(GitHub.from_env(os.environ), pr)
        pr_author = pr_author or author
        head = head or pr_head
    given = [x is not None for x in (reviews if fetched is None else fetched, pr_author, head)]
    if not any(given):
        return None
    if not all(given):
        raise click.UsageError("--reviews, --pr-author and --head go together")

    judge = judge or registry
    if base is None:
        # a pull request is compared with the protected branch it targets
        from modelreg.store.protected import protected_branch, protected_ref

        base = protected_ref(registry.git, protected_branch(registry))
    return review_input(registry.git, reviews_file=reviews, reviews=fetched,
                        pr_author=pr_author, head=head, base=base, config=judge.config, pr=pr,
                        rules=judge.rev)


def _emit_change(change: Any, fmt: str) -> None:
    if fmt == "json":
        _json_out({"model": change.model, "version": change.version, "stage": change.stage,
                   "action": change.action, "branch": change.branch, "commit": change.commit,
                   "file": f"models/{change.model}/{change.file}",
                   "warnings": [f.to_json() for f in change.findings]})
        return
    for f in change.findings:
        click.echo(str(f), err=True)
    what = {"promote": f"{change.model} {change.version} → {change.stage}",
            "rollback": f"{change.model} {change.stage} back to {change.version}",
            "deprecate": f"{change.model} {change.version or ''} deprecated".replace("  ", " "),
            "retire": f"the retirement of {change.model}"}
    click.echo(f"Prepared {what[change.action]} in models/{change.model}/{change.file}"
               + (f" on branch {change.branch}" if change.branch else "")
               + f" (commit {(change.commit or '')[:12]})")
    if change.branch and change.action == "retire":
        click.echo(f"next: git push -u origin {change.branch}  and open a pull request; "
                   "the model's owners approve it")
    elif change.branch:
        click.echo(f"next: git push -u origin {change.branch}  and open a pull request; "
                   "the stage owners approve it, reconcile tags it after the merge")


_MESSAGE_HELP = "Why: recorded with the change and in its commit message."


@cli.command()
@click.argument("target", metavar="NAME@VERSION", type=_Target(version_required=False))
@click.argument("legacy_version", required=False, cls=_LegacyArgument)
@click.option("--stage", "stage", required=True, metavar="STAGE",
              help="The stage to promote to (one of the registry's stages).")
@_renamed("--to", "--stage", "stage")
@click.option("-m", "--message", "message", help=_MESSAGE_HELP)
@_renamed("--reason", "--message", "message")
@click.option("--accept-regression", metavar="REASON",
              help="The version is worse than the one holding the stage beyond the tier's "
                   "tolerance (EVAL-05), and this is why that is acceptable.")
@click.option("--accepted-by", metavar="LOGIN",
              help="The model-risk officer who accepts the regression; counts when they "
                   "approve the pull request.")
@click.option("--no-branch", is_flag=True, help="Commit on the current branch.")
@click.option("--engine", default="auto", show_default=True, metavar="NAME",
              help="Policy engine for the pre-check.")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def promote(obj: dict, target: tuple[str, str | None], legacy_version: str | None, stage: str,
            message: str | None, accept_regression: str | None, accepted_by: str | None,
            no_branch: bool, engine: str, fmt: str) -> None:
    """Prepare a pull request that asks for NAME@VERSION to hold STAGE.

    A version worse than the one holding production beyond the tier's tolerance (EVAL-05)
    needs --accept-regression and --accepted-by: a model-risk officer who approves the
    pull request.

    \b
    Example:
      modelreg promote credit-default@1.1.0 --stage staging -m "Passed the October backtest"
    """

    from modelreg.app.promote import promote as do_promote

    name, version = _one_version(target, legacy_version)
    registry = _registry(obj["repo"])
    _stage(registry, stage)
    _emit_change(do_promote(registry, name, str(version), stage, reason=message,
                            branch=not no_branch, engine=engine,
                            accept_regression=accept_regression, accepted_by=accepted_by), fmt)


@cli.command()
@click.argument("name", required=False)
@click.option("--stage", "stage", required=True, metavar="STAGE",
              help="The stage to roll back (one of the registry's stages).")
@_renamed("--env", "--stage", "stage")
@click.option("--to", "to", metavar="NAME@VERSION", help="The version to go back to "
              "(default: the version that held the stage before).")
@click.option("-m", "--message", "message", help=_MESSAGE_HELP)
@_renamed("--reason", "--message", "message")
@click.option("--no-branch", is_flag=True, help="Commit on the current branch.")
@click.option("--engine", default="auto", show_default=True, metavar="NAME",
              help="Policy engine for the pre-check.")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def rollback(obj: dict, name: str | None, stage: str, to: str | None, message: str | None,
             no_branch: bool, engine: str, fmt: str) -> None:
    """Prepare a pull request that puts STAGE of model NAME back to an earlier version.

    NAME may be left out when --to names the version.

    \b
    Example:
      modelreg rollback credit-default --stage production --to credit-default@1.0.0
    """
    from modelreg.app.promote import rollback as do_rollback

    version = None
    if to is not None:
        if "@" in to:
            to_name, version = _one_version(_Target().convert(to, None, None), None)
            if name is not None and name != to_name:
                raise click.UsageError(f"--to {to} names another model than {name}")
            name = to_name
        else:
            _deprecated(f"--to {to}", f"--to {name or 'NAME'}@{to}")
            version = to
    if name is None:
        raise click.UsageError("give the model: NAME, or --to NAME@VERSION")
    registry = _registry(obj["repo"])
    _stage(registry, stage)
    _emit_change(do_rollback(registry, name, stage, to=version, reason=message,
                             branch=not no_branch, engine=engine), fmt)


@cli.command()
@click.argument("target", metavar="NAME[@VERSION]", type=_Target(version_required=False))
@click.argument("legacy_version", required=False, cls=_LegacyArgument)
@click.option("-m", "--message", "message", help=_MESSAGE_HELP)
@_renamed("--reason", "--message", "message")
@click.option("--no-branch", is_flag=True, help="Commit on the current branch.")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def deprecate(obj: dict, target: tuple[str, str | None], legacy_version: str | None,
              message: str | None, no_branch: bool, fmt: str) -> None:
    """Prepare a pull request that deprecates NAME@VERSION (or, with NAME, the whole model).

    \b
    Example:
      modelreg deprecate credit-default@1.0.0 -m "Superseded by 1.1.0"
    """
    from modelreg.app.promote import deprecate as do_deprecate

    name, version = _one_version(target, legacy_version, required=False)
    _emit_change(do_deprecate(_registry(obj["repo"]), name, version, reason=message,
                              branch=not no_branch), fmt)


@cli.command()
@click.argument("name")
@click.option("--reason", "reason", required=True, metavar="TEXT",
              help="Why the model is retired: recorded in model.yaml and the commit message.")
@click.option("--date", "date", metavar="YYYY-MM-DD", help="The retirement date "
              "(default: today, UTC).")
@click.option("--replaced-by", "replaced_by", metavar="MODEL",
              help="The registered model that takes over its use.")
@click.option("--branch", "branch_name", metavar="BRANCH",
              help="The branch to commit on (default: retire/NAME).")
@click.option("--no-branch", is_flag=True, help="Commit on the current branch.")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def retire(obj: dict, name: str, reason: str, date: str | None, replaced_by: str | None,
           branch_name: str | None, no_branch: bool, fmt: str) -> None:
    """Prepare a pull request that records model NAME as retired in its model.yaml.

    The model must hold no stage and ask for none (`modelreg deprecate NAME` empties its
    stages first). It stays in the registry, its history, the audit report and the
    inventory, marked retired, and can no longer be promoted.

    \b
    Example:
      modelreg retire credit-default --reason "Replaced by the 2027 scorecard" \\
        --replaced-by credit-scorecard
    """
    from modelreg.app.promote import retire as do_retire

    if branch_name and no_branch:
        raise click.UsageError("--branch and --no-branch exclude each other")
    _emit_change(do_retire(_registry(obj["repo"]), name, reason, date=date,
                           replaced_by=replaced_by, branch=not no_branch,
                           branch_name=branch_name), fmt)


def _pulls(registry: Registry, github: bool, reviews_dir: str | None, pr: int | None,
           reviews: str | None, pr_author: str | None, head: str | None) -> Callable | None:
    """Where reconcile learns which pull request merged a commit: GitHub, recorded files,
    or the options describing the one HEAD merged."""
    from modelreg.policy import reviews as revs

    if github:
        if reviews_dir or reviews or pr is not None or pr_author or head:
            raise click.UsageError("--github asks GitHub for every merge: leave out --pr, "
                                   "--reviews, --reviews-dir, --pr-author and --head")
        from modelreg.store.github import GitHub

        client = GitHub.from_env(os.environ)
        return lambda commit: revs.merged_by(client, commit)
    merged: dict[str, Any] = {}
    if reviews or pr is not None or pr_author or head:
        if reviews and pr_author is None:
            raise click.UsageError("--reviews needs --pr-author (the author cannot approve)")
        if (pr_author or head) and not reviews:
            raise click.UsageError("--pr-author and --head go with --reviews")
        git = registry.git
        tip = git.head() or ""
        second = git.run("rev-parse", "-q", "--verify", "HEAD^2", check=False).strip()
        if not second:
            raise click.UsageError("HEAD is not a merge commit, so no pull request merged it: "
                                   "leave out --pr and --reviews (it is recorded as a direct "
                                   "push)")
        if head is not None:
            given = git.run("rev-parse", "-q", "--verify", f"{head}^{{commit}}",
                            check=False).strip()
            if given != second:
                raise click.UsageError(f"--head {head} is not HEAD's second parent "
                                       f"{second[:12]}: the merged head is what was reviewed")
        merged[tip] = revs.PullRequest(pr, pr_author,
                                       revs.load_reviews(reviews) if reviews else None)
    if not merged and not reviews_dir:
        return None

    def find(commit: str) -> Any:
        if commit in merged:
            return merged[commit]
        return revs.recorded_pull_request(reviews_dir, commit) if reviews_dir else None
    return find


@cli.command()
@click.option("--push", is_flag=True, help="Push the new tags to origin (atomically).")
@click.option("--github", "github", is_flag=True,
              help="Ask GitHub which pull request merged each merge commit and for its reviews "
                   "(every page): $GITHUB_REPOSITORY, $GITHUB_TOKEN or $GH_TOKEN, "
                   "$GITHUB_API_URL.")
@click.option("--reviews-dir", "reviews_dir", metavar="DIR",
              help="Recorded pull requests, one file per merge commit: DIR/<merge commit>.json "
                   "holding {\"pr\": N, \"pr_author\": LOGIN, \"reviews\": [GitHub's reviews]}.")
@click.option("--pr", "pr", type=int, metavar="N",
              help="The pull request HEAD (a merge commit) merged.")
@click.option("--reviews", "reviews", metavar="FILE",
              help="The reviews of the pull request HEAD merged (JSON of GitHub's "
                   "list-reviews endpoint, every page).")
@_renamed("--approvals", "--reviews", "reviews")
@click.option("--pr-author", "pr_author", metavar="LOGIN", help="That pull request's author.")
@click.option("--head", "head", metavar="SHA", help="That pull request's head commit: "
              "HEAD's second parent (the default, and the only value accepted).")
@click.option("--signing-key", "signing_key", metavar="PATH",
              help="Sign the tags with this SSH private key file (an OpenPGP key id with "
                   "--signing-format openpgp). Default: git's user.signingKey, else "
                   "$MODELREG_SIGNING_KEY.")
@click.option("--signing-format", "signing_format", type=click.Choice(["ssh", "openpgp"]),
              help="The kind of --signing-key (default ssh; with git's user.signingKey, "
                   "git's gpg.format).")
@click.option("--engine", default="auto", show_default=True, metavar="NAME", help=_ENGINE_HELP)
@_format_option(*_TEXT_JSON)
@click.pass_obj
def reconcile(obj: dict, push: bool, github: bool, reviews_dir: str | None, pr: int | None,
              reviews: str | None, pr_author: str | None, head: str | None,
              signing_key: str | None, signing_format: str | None, engine: str,
              fmt: str) -> None:
    """On the protected branch after merges: tag what each merge changed, with its evidence.

    Every first-parent commit since the last reconciled one is recorded with its own pull
    request and reviews; a commit no pull request is known for is recorded as a direct push,
    which the gate refuses.

    Every tag is signed; the key must be an allowed signer in
    policies/data/tag-signing.yaml (unless it says signed_tags: false).

    \b
    Example:
      modelreg reconcile --push --github --signing-key "$KEYFILE"
      modelreg reconcile --push --pr 42 --reviews reviews.json --pr-author alice-ds
    """
    from modelreg.app.reconcile import reconcile as do_reconcile

    registry = _registry(obj["repo"])
    pulls = _pulls(registry, github, reviews_dir, pr, reviews, pr_author, head)
    result = do_reconcile(registry, push=push, pulls=pulls, engine=engine,
                          signing_key=signing_key, signing_format=signing_format)
    if fmt == "json":
        _json_out({"head": result.head, "pushed": result.pushed, "signer": result.signer,
                   "already_done": result.already_done,
                   "created": [{"tag": p.name, "target": p.target, "event": p.action.value,
                                "model": p.model, "version": p.version, "stage": p.stage,
                                "merge_commit": p.merge, "via": p.evidence.get("via"),
                                "pr": p.evidence.get("pr")}
                               for p in result.created]})
        return
    if not result.created:
        click.echo("nothing to record: the tags already match what was merged"
                   + (" (another reconcile recorded it first)" if result.already_done else ""))
        return
    for p in result.created:
        via = (f"pull request #{p.evidence['pr']}" if p.evidence.get("pr") is not None
               else "no pull request: direct push")
        click.echo(f"created {p.name} → {p.target[:12]}  ({p.title}; merge "
                   f"{p.merge[:12]}, {via})")
    click.echo(("pushed" if result.pushed else "not pushed (use --push)")
               + f": {len(result.created)} tag(s)"
               + (f", signed as {result.signer}" if result.signer else ""))


@cli.command()
@click.argument("name")
@click.option("--stage", "stage", required=True, metavar="STAGE",
              help="The stage the deployment serves (one of the registry's stages).")
@_renamed("--env", "--stage", "stage")
@click.option("--artifact", metavar="PATH", help="The weights file about to be deployed: its "
              "sha256 must be the registered one.")
@click.option("--engine", default="auto", show_default=True, metavar="NAME", help=_ENGINE_HELP)
@_format_option(*_TEXT_JSON)
@click.pass_obj
def gate(obj: dict, name: str, stage: str, artifact: str | None, engine: str, fmt: str) -> None:
    """For deploy pipelines: exit 0 only if NAME may run in STAGE now.

    \b
    Example:
      modelreg gate credit-default --stage production --artifact model.safetensors
    """
    from modelreg.app.gate import gate as do_gate

    registry = _registry(obj["repo"])
    _stage(registry, stage)
    result = do_gate(registry, name, stage, artifact=artifact, engine=engine)
    if fmt == "json":
        _json_out(result.to_json())
    elif result.ok:
        click.echo(f"PASS {name} {result.version} may run in {stage} "
                   f"(tag {result.tag}, approved by "
                   f"{', '.join(result.approvers) or 'nobody'})")
        click.echo(f"  tag signed by {result.signer}" if result.signer
                   else "  " + "; ".join(result.notes or ["tag signer unknown"]))
        for a in result.artifacts:
            click.echo(printable(f"  {a['path']}  sha256 {a['sha256']}  (dvc pull {a['path']})"))
    else:
        click.echo(f"FAIL {name} in {stage}" + (f" ({result.version})" if result.version else ""))
        for r in result.reasons:
            click.echo(f"  - {printable(r)}")
    sys.exit(EXIT_OK if result.ok else EXIT_FINDINGS)


@cli.command()
@click.argument("name", required=False)
@click.option("--stage", "stage", metavar="STAGE",
              help="Only the events of this stage (one of the registry's stages).")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def history(obj: dict, name: str | None, stage: str | None, fmt: str) -> None:
    """Every event — registered, promoted, rolled back, deprecated — with who and when.

    \b
    Example:
      modelreg history credit-default --stage production
    """
    from modelreg.app.read import history as do_history
    from modelreg.app.read import untrusted_tags

    registry = _registry(obj["repo"])
    rows = do_history(registry, name, stage=_stage(registry, stage))
    flagged = untrusted_tags(registry, name)
    if fmt == "json":
        _json_out({"events": rows, "untrusted_tags": flagged})
        return
    _flag_untrusted(flagged)
    if not rows:
        click.echo("no events yet")
    for r in rows:
        who = r["actor"] or "?"
        approved = f"  approved by {', '.join(r['approvers'])}" if r["approvers"] else ""
        pr = f"  PR #{r['pull_request']}" if r["pull_request"] else ""
        click.echo(printable(f"{r['time']}  {r['summary']:<48} by {who}{approved}{pr}  "
                             f"{str(r['commit'])[:12]}  [{r['tag']}]"))


@cli.command()
@click.option("--check", "check_only", is_flag=True, help="Fail when the file is out of date.")
@click.option("--write", is_flag=True, help="Write .github/CODEOWNERS.")
@click.pass_obj
def codeowners(obj: dict, check_only: bool, write: bool) -> None:
    """.github/CODEOWNERS from policies/data: who must review which path.

    \b
    Example:
      modelreg codeowners --check
    """
    from modelreg.app import codeowners as co

    registry = _registry(obj["repo"])
    if check_only and write:
        raise click.UsageError("--check and --write contradict each other")
    if write:
        click.echo(f"wrote {co.write(registry)}")
    elif check_only:
        reasons = co.check(registry)
        for r in reasons:
            click.echo(printable(r))
        if reasons:
            sys.exit(EXIT_FINDINGS)
        click.echo(f"{co.PATH} is up to date")
    else:
        click.echo(co.generate(registry).text, nl=False)


# --- card -------------------------------------------------------------------------------
def _models_named(registry: Registry, args: tuple[str, ...]) -> list[str]:
    """Model names from NAMEs and files under ``models/NAME/`` (paths as git or pre-commit
    give them, relative to the registry, or absolute); other files name no model. A NAME
    that is no model is left to the check, which says so."""
    names: set[str] = set()
    for arg in args:
        if "/" not in arg and os.sep not in arg:
            names.add(arg)
            continue
        path = Path(arg)
        if path.is_absolute():
            try:
                path = path.resolve().relative_to(registry.root.resolve())
            except ValueError:
                continue                   # outside the registry
        parts = path.parts
        if len(parts) >= 3 and parts[0] == "models" and (registry.root / "models" / parts[1]
                                                           / "model.yaml").is_file():
            names.add(parts[1])
    return sorted(names)



@cli.command()
@click.argument("names", nargs=-1, required=True, metavar="NAME")
@click.option("--write", "do_write", is_flag=True, help="Write models/NAME/card.md.")
@click.option("--check", "do_check", is_flag=True, help="Exit 1 when the card is stale or the "
              "card policies (CARD-*, as check runs them) find a problem. Takes several "
              "NAMEs, or files under models/NAME/ (a pre-commit hook's staged files): their "
              "models' cards are checked; other files are ignored.")
@click.option("--stage", metavar="STAGE",
              help="With --check: judge every version at this stage, registered or one of the "
                   "registry's stages (default: the stage each version holds or asks for, as "
                   "check picks it).")
@click.option("--engine", default="auto", show_default=True, metavar="NAME",
              help="With --check: the policy engine judging the card (as for check): "
                   "auto, regorus, opa-lib, opa or opa-server.")
@click.option("--opa-url", "opa_url", metavar="URL", help="OPA server for --engine opa-server.")
@_format_option(*_TEXT_JSON, help="With --check: text, or json (the versioned report).")
@click.pass_obj
def card(obj: dict, names: tuple[str, ...], do_write: bool, do_check: bool, stage: str | None,
         engine: str, opa_url: str | None, fmt: str) -> None:
    """Render NAME's model card (to stdout by default), prose kept, generated parts fresh.

    \b
    Example:
      modelreg card credit-default --check --stage production
      modelreg card --check models/credit-default/card.md   (as the pre-commit hook runs it)
    """
    from modelreg.app import cards

    if do_write and do_check:
        raise click.UsageError("--write and --check contradict each other")
    if (stage or opa_url or engine != "auto") and not do_check:
        raise click.UsageError("--stage, --engine and --opa-url only apply to --check")
    registry = _registry(obj["repo"])
    if do_check:
        stage = _stage(registry, stage, registered=True)
        models = _models_named(registry, names)
        if not models:
            click.echo("no model card to check among the files given", err=True)
            sys.exit(EXIT_OK)
        report = cards.check(registry, models, stage, engine=engine, opa_url=opa_url)
        sys.exit(_emit_report(report, fmt))
    if len(names) != 1:
        raise click.UsageError("give one NAME to render or --write (several only with --check)")
    (name,) = names
    if do_write:
        rendered = cards.write(registry, name)
        state = "wrote" if rendered.stale else "up to date:"
        click.echo(f"{state} {rendered.path}", err=True)
        return
    click.echo(cards.render(registry, name).text, nl=False)


# --- audit, lineage, site ----------------------------------------------------------------
@cli.command()
@click.argument("name", required=False)
@click.option("--all", "all_models", is_flag=True, help="Every model: one file each in --out DIR.")
@click.option("--at", "at", metavar="DATE", help="As of this date, from git history alone "
              "(YYYY-MM-DD, end of day UTC, or an RFC 3339 time).")
@_format_option("md", "html", "json", default="md", help="Markdown, a self-contained HTML "
                "page, or JSON (schemas/audit.schema.json).")
@click.option("--out", "out", metavar="PATH", help="Write to PATH (a folder with --all) "
              "instead of stdout.")
@click.option("--engine", default="auto", show_default=True, metavar="NAME",
              help="Policy engine for the current policy result.")
@click.pass_obj
def audit(obj: dict, name: str | None, all_models: bool, at: str | None, fmt: str,
          out: str | None, engine: str) -> None:
    """The evidence report of NAME: lineage, metrics, sign-off, stages, policy, regulations.

    \b
    Example:
      modelreg audit credit-default --at 2026-06-30 --format html --out audit.html
    """
    from modelreg.app import audit as au
    from modelreg.render import audit as audit_render

    if all_models == bool(name):
        raise click.UsageError("give a model NAME or --all")
    if all_models and not out:
        raise click.UsageError("--all writes one file per model: give --out DIR")
    registry = _registry(obj["repo"])
    if all_models:
        paths = audit_render.write_reports(au.audit_all(registry, at=at, engine=engine),
                                           Path(str(out)), fmt,
                                           final_stage=registry.config.last_stage)
        for path in paths:
            click.echo(f"wrote {path}", err=True)
        return
    text = audit_render.render(au.audit(registry, str(name), at=at, engine=engine), fmt,
                               final_stage=registry.config.last_stage)
    if out:
        write_atomic(Path(out), text)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--at", "at", metavar="DATE", help="As of this date, from git history alone "
              "(YYYY-MM-DD, end of day UTC, or an RFC 3339 time).")
@_format_option("md", "csv", "json", default="md", help="A Markdown table, CSV (one row per "
                "model) or JSON.")
@click.option("--out", "out", metavar="PATH", help="Write to PATH instead of stdout.")
@click.pass_obj
def inventory(obj: dict, at: str | None, fmt: str, out: str | None) -> None:
    """The model inventory: one row per model, retired ones included.

    Owner, risk tier, EU AI Act class and Annex III area, intended use, the version each
    stage holds, the latest version, the last validation, open validation findings, the next
    review date, monitoring and retirement.

    \b
    Example:
      modelreg inventory --at 2026-06-30 --format csv --out inventory.csv
    """
    from modelreg.app.inventory import inventory as build
    from modelreg.render import inventory as inventory_render

    text = inventory_render.render(build(_registry(obj["repo"]), at=at), fmt)
    if out:
        write_atomic(Path(out), text)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("target", metavar="NAME@VERSION", type=_Target())
@_format_option("mermaid", "dot", "json", default="mermaid", help="Mermaid, Graphviz DOT "
                "or JSON.")
@click.pass_obj
def lineage(obj: dict, target: tuple[str, str], fmt: str) -> None:
    """Datasets, code, parents and descendants of a model version, as a graph.

    \b
    Example:
      modelreg lineage credit-default@1.1.0 --format dot | dot -Tsvg > lineage.svg
    """
    from modelreg.app import lineage as lin
    from modelreg.render.lineage import render

    name, version = lin.parse_target("@".join(target))
    graph = lin.lineage(_registry(obj["repo"]), name, version)
    click.echo(render(graph, fmt), nl=False)


@cli.command()
@click.argument("out_dir", metavar="OUT_DIR")
@click.option("--engine", default="auto", show_default=True, metavar="NAME",
              help="Policy engine for each model's policy status.")
@click.pass_obj
def site(obj: dict, out_dir: str, engine: str) -> None:
    """A static HTML catalog of the registry in OUT_DIR (self-contained; GitHub Pages).

    \b
    Example:
      modelreg site _site
    """
    from modelreg.render.site import build_site

    result = build_site(_registry(obj["repo"]), out_dir, engine=engine)
    click.echo(f"wrote {len(result.pages)} pages for {len(result.models)} models to "
               f"{result.out_dir}/index.html", err=True)


# --- export ----------------------------------------------------------------------------------
@cli.group(name="export")
def export_group() -> None:
    """Write a registered version in another tool's own format.

    \b
    Example:
      modelreg export hf credit-default@1.1.0 out/credit-default
    """


@export_group.command(name="hf")
@click.argument("target", metavar="NAME@VERSION", type=_Target())
@click.argument("out_dir", metavar="OUT_DIR")
@click.option("--no-pull", is_flag=True, help="Refuse instead of pulling weights that are not "
              "in the work tree with DVC.")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def export_hf(obj: dict, target: tuple[str, str], out_dir: str, no_pull: bool,
              fmt: str) -> None:
    """A folder the Hugging Face Hub takes as it is: README.md (the card for that version,
    with the Hub's front matter), the weights (checked against their recorded sha256;
    pulled with DVC when absent) and config.json. OUT_DIR must be new or empty.

    \b
    Example:
      modelreg export hf credit-default@1.1.0 out/credit-default
      huggingface-cli upload example-org/credit-default out/credit-default
    """
    from modelreg.app.export import export_hf as do_export

    name, version = target
    result = do_export(_registry(obj["repo"]), name, version, out_dir, pull=not no_pull)
    if fmt == "json":
        _json_out({"model": result.model, "version": result.version,
                   "out_dir": result.out_dir, "files": list(result.files),
                   "pulled": list(result.pulled)})
        return
    for path in result.pulled:
        click.echo(f"pulled {printable(path)} with DVC", err=True)
    click.echo(f"Exported {result.model} {result.version} to {printable(result.out_dir)}: "
               + ", ".join(printable(f) for f in result.files))


# --- import: mlflow, gto -----------------------------------------------------------------
@cli.group(name="import")
def import_group() -> None:
    """Bring existing models in: from an MLflow registry or a GTO repository.

    Each new version goes through register's steps (scanner, DVC, record, card, the
    registered-stage policies), one commit each on a new branch; the source's aliases and
    stages become requested stages in stages.yaml, which count only once the pull request
    is approved, merged and reconciled. Versions already here are skipped: running it again
    changes nothing. A failure leaves the repository as it was.

    \b
    Example:
      modelreg import mlflow --tracking-uri sqlite:///mlflow.db --defaults import.yaml
    """


def _import_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--model", "models", multiple=True, metavar="SOURCE[=NAME]",
                     help="Import only this model (repeatable); =NAME names it here (default: "
                          "its name in lower case, anything else as -)."),
        click.option("--defaults", "defaults", metavar="FILE.yaml",
                     help="model.yaml fields the source lacks (owner, risk, intended use, "
                          "licence…), datasets, stage mapping; per model under `models:`."),
        click.option("--stage-map", "stage_map", multiple=True, metavar="ALIAS=STAGE",
                     help="Request STAGE for the version the source's alias or stage ALIAS "
                          "names (repeatable); an alias named like a stage needs none."),
        click.option("--branch", "branch", metavar="NAME",
                     help="The branch to commit on (default: import/SOURCE-DATE-TIME)."),
        click.option("--allow-findings", is_flag=True, help="Register versions even when the "
                     "registered-stage policies find errors (the pull request's check still "
                     "fails on them)."),
        click.option("--engine", default="auto", show_default=True, metavar="NAME",
                     help=_ENGINE_HELP),
        _format_option(*_TEXT_JSON),
    ]):
        fn = option(fn)
    return fn


def _import_request(models: tuple[str, ...], defaults: str | None, stage_map: tuple[str, ...],
                    branch: str | None, allow_findings: bool, engine: str) -> Any:
    from modelreg.app.imports import ImportRequest

    mapping = {}
    for spec in stage_map:
        alias, eq, stage = spec.partition("=")
        if not eq or not alias or not stage:
            raise click.BadParameter(f"{spec!r} is not ALIAS=STAGE", param_hint="--stage-map")
        mapping[alias] = stage
    return ImportRequest(models=list(models), defaults=defaults, stage_map=mapping,
                         branch=branch, allow_findings=allow_findings, engine=engine)


def _emit_import(result: Any, fmt: str) -> None:
    if fmt == "json":
        _json_out({"source": result.source, "branch": result.branch,
                   "registered": list(result.registered), "skipped": list(result.skipped),
                   "stages": list(result.stages), "notes": list(result.notes)})
        return
    for s in result.skipped:
        click.echo(printable(f"skipped {s['model']} {s['version']} ({result.source} "
                             f"{s['source']}): {s['reason']}"))
    for r in result.registered:
        click.echo(printable(f"registered {r['model']} {r['version']} from {result.source} "
                             f"{r['source']} (commit {r['commit'][:12]})"))
        for w in r["warnings"]:
            click.echo(f"warning: {printable_lines(w)}", err=True)
        errors = [f for f in r["findings"] if f["severity"] == "error"]
        if errors:
            click.echo(printable(f"  check will report {len(errors)} error(s) for "
                                 f"{r['model']} {r['version']} until fixed in the pull request "
                                 "(the card's sections among them: the owners write those)"),
                       err=True)
    for s in result.stages:
        click.echo(printable(f"requested {s['model']} {s['version']} in {s['stage']} "
                             f"({result.source} {s['source']}): counts once the pull request "
                             "is approved, merged and reconciled"))
    for note in result.notes:
        click.echo(f"note: {printable_lines(note)}", err=True)
    if result.branch:
        click.echo(f"next: git push -u origin {result.branch}  and open a pull request")
    else:
        click.echo(f"nothing to import: the registry has every version {result.source} has")


@import_group.command(name="mlflow")
@click.option("--tracking-uri", "tracking_uri", required=True, metavar="URI",
              help="The MLflow tracking server or store (http://…, sqlite:///mlflow.db).")
@click.option("--registry-uri", "registry_uri", metavar="URI",
              help="The MLflow model registry, when it is not the tracking store.")
@_import_options
@click.pass_obj
def import_mlflow(obj: dict, tracking_uri: str, registry_uri: str | None,
                  models: tuple[str, ...], defaults: str | None, stage_map: tuple[str, ...],
                  branch: str | None, allow_findings: bool, engine: str, fmt: str) -> None:
    """Import registered models from MLflow: versions with their run's metrics and
    parameters, artifacts and descriptions; aliases and legacy stages as requested stages.

    Needs MLflow: pip install "modelreg[mlflow]". MLflow version N is version N.0.0 here;
    `modelreg.`-prefixed tags of a registered model fill model.yaml fields
    (modelreg.risk.tier = 2), after the --defaults file's `model:` and before its
    per-model entries.

    \b
    Example:
      modelreg import mlflow --tracking-uri http://127.0.0.1:5000 --model "Credit Default" \\
        --defaults import.yaml --stage-map champion=production
    """
    from modelreg.app.imports import import_mlflow as do_import

    req = _import_request(models, defaults, stage_map, branch, allow_findings, engine)
    _emit_import(do_import(_registry(obj["repo"]), tracking_uri, req, registry_uri), fmt)


@import_group.command(name="gto")
@click.argument("source", metavar="SOURCE")
@_import_options
@click.pass_obj
def import_gto(obj: dict, source: str, models: tuple[str, ...], defaults: str | None,
               stage_map: tuple[str, ...], branch: str | None, allow_findings: bool,
               engine: str, fmt: str) -> None:
    """Import a GTO repository's models (SOURCE: its path or git URL): each registered
    version's files at its tag's commit (from git, or through DVC from the source's
    remote), the artifacts' declarations, the stages its tags assign now as requested ones.

    \b
    Example:
      modelreg import gto ../models-repo --defaults import.yaml
    """
    from modelreg.app.imports import import_gto as do_import

    req = _import_request(models, defaults, stage_map, branch, allow_findings, engine)
    _emit_import(do_import(_registry(obj["repo"]), source, req), fmt)


# --- integrity: sign, verify ---------------------------------------------------------------
@cli.command()
@click.argument("target", metavar="NAME@VERSION", type=_Target())
@click.option("--key", "key", required=True, metavar="KEY.pem",
              help="EC private key (PEM); its public key must be in policies/data/signing.yaml.")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def sign(obj: dict, target: tuple[str, str], key: str, fmt: str) -> None:
    """Sign a version's weights (after `dvc pull`) with OpenSSF model-signing, offline.

    \b
    Example:
      modelreg sign credit-default@1.1.0 --key release.pem
    """
    from modelreg.app.sign import sign as do_sign

    name, version = target
    result = do_sign(_registry(obj["repo"]), name, version, key)
    if fmt == "json":
        _json_out({"model": result.model, "version": result.version,
                   "signature": result.signature, "files": list(result.files),
                   "key": result.key})
        return
    click.echo(f"Signed {result.model} {result.version}: {result.signature} "
               f"({len(result.files)} file(s))")
    if result.key:
        click.echo(f"  verifies with trusted key {result.key}")
    else:
        click.echo("warning: no key in policies/data/signing.yaml verifies it yet: add the "
                   "public key there in a reviewed pull request", err=True)
    click.echo(f"next: git add {result.signature} && git commit, and open a pull request")


@cli.command(name="verify")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--no-weights", is_flag=True,
              help="Skip the weights: neither re-hash the copies that are here nor look for "
                   "registered weights missing from the DVC remote.")
@click.option("--remote", "remote", is_flag=True,
              help="Also ask the default DVC remote when it is not a local folder (S3, GCS, "
                   "SSH…) whether it holds every registered weights file (network, "
                   "credentials and DVC's plugin for it). Without it, only a local remote is "
                   "looked at.")
@_format_option(*_TEXT_JSON, help="text, or json (the versioned report).")
@click.pass_obj
def verify_cmd(obj: dict, names: tuple[str, ...], no_weights: bool, remote: bool,
               fmt: str) -> None:
    """Tamper detection: changed records, moved, replaced or unsigned tags, corrupted or
    missing weights, stages that name unregistered or deprecated versions.

    \b
    Example:
      modelreg verify --remote
    """
    from modelreg.app.verify import verify as do_verify

    if remote and no_weights:
        raise click.UsageError("--remote looks for weights: it cannot go with --no-weights")
    report = do_verify(_registry(obj["repo"]), list(names) or None, weights=not no_weights,
                       remote=remote)
    sys.exit(_emit_report(report, fmt))


@cli.group()
def monitor() -> None:
    """Ongoing monitoring: record what a version showed on production data.

    \b
    Example:
      modelreg monitor record credit-default@1.1.0 --results monitoring/2026-11.json
    """


@monitor.command(name="record")
@click.argument("target", metavar="NAME@VERSION", type=_Target())
@click.option("--results", "results", required=True, metavar="FILE",
              help="The monitoring job's output (JSON or YAML): window {start, end}, "
                   "metrics, drift.")
@click.option("--branch", "branch", metavar="BRANCH",
              help="The branch to commit on (default: monitor/NAME-VERSION-END).")
@_format_option(*_TEXT_JSON)
@click.pass_obj
def monitor_record(obj: dict, target: tuple[str, str | None], results: str,
                   branch: str | None, fmt: str) -> None:
    """Record a monitoring window of NAME@VERSION on a branch, for a pull request.

    Writes models/NAME/monitoring/VERSION/END.yaml, judged against model.yaml's
    monitoring_plan.thresholds; the breaches are printed and written into the record for
    the reviewer (the policies judge the values again, MON-01 … MON-03). Exit 0 when the
    record is committed, breaches or not.

    \b
    Example:
      modelreg monitor record credit-default@1.1.0 --results monitoring/2026-11.json
    """
    from modelreg.app.monitor import record
    from modelreg.core.monitoring import describe

    name, version = target
    result = record(_registry(obj["repo"]), f"{name}@{version}", results, branch=branch)
    if fmt == "json":
        _json_out(result.to_json())
        return
    for b in result.breaches:
        click.echo(f"breach: {printable(describe(b))}")
    window = result.record["window"]
    click.echo(f"Recorded {result.path} (window {window['start']} to {window['end']}, "
               f"{len(result.breaches)} breaches) on branch {result.branch} "
               f"(commit {(result.commit or '')[:12]})")
    click.echo(f"next: git push -u origin {result.branch}  and open a pull request; the "
               "stage approvers own monitoring records and review it")


@cli.command()
@click.option("--within", "within", type=click.IntRange(min=0), default=30, show_default=True,
              metavar="DAYS", help="List what falls due within DAYS days (overdue items always).")
@_format_option("text", "json", "github-issues",
                help="text, json, or github-issues (each item's issue: title, body, label).")
@click.option("--today", "today", metavar="DATE",
              help="Count the days from DATE (YYYY-MM-DD) instead of today's UTC date.")
@click.option("--sync-issues", "sync", is_flag=True,
              help="Open, update, reopen and close one GitHub issue per item (label "
                   "modelreg-due): $GITHUB_REPOSITORY, $GITHUB_TOKEN or $GH_TOKEN (issues: "
                   "write), $GITHUB_API_URL.")
@click.pass_obj
def due(obj: dict, within: int, fmt: str, today: str | None, sync: bool) -> None:
    """What falls due: periodic reviews, revalidations, waivers, validation findings and
    monitoring, soonest first.

    Reviews and revalidations are listed for versions that hold a stage, monitoring for the
    version holding the last stage, waivers and findings for registered versions that are
    not deprecated. Exit 0 when nothing is overdue, 1 when something is.

    \b
    Example:
      modelreg due --within 60
      modelreg due --sync-issues
    """
    from modelreg.app.due import due as do_due
    from modelreg.app.due import sync_issues
    from modelreg.render import due as render
    from modelreg.store.github import GitHub

    result = do_due(_registry(obj["repo"]), within=within, today=today)
    for note in result.notes:
        click.echo(f"note: {printable(note)}", err=True)
    if sync:
        synced = sync_issues(GitHub.from_env(os.environ), render.issues(result))
        click.echo(f"issues: {len(synced.opened)} opened, {len(synced.updated)} updated, "
                   f"{len(synced.reopened)} reopened, {len(synced.closed)} closed, "
                   f"{len(synced.unchanged)} unchanged", err=True)
    if fmt == "json":
        _json_out(result.to_json())
    elif fmt == "github-issues":
        _json_out(render.issues_json(result))
    else:
        click.echo(render.text(result))
    sys.exit(EXIT_FINDINGS if result.overdue else EXIT_OK)


# --- the error boundary -----------------------------------------------------------------
def main(argv: list[str] | None = None) -> NoReturn:
    try:
        cli.main(args=argv, prog_name="modelreg", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except ModelregError as exc:
        for f in getattr(exc, "findings", ()):
            click.echo(str(f), err=True)
        click.echo(f"error: {exc}", err=True)
        if exc.hint:
            click.echo(f"hint: {printable_lines(exc.hint)}", err=True)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except BrokenPipeError:
        sys.exit(EXIT_OK)
    except Exception:
        traceback.print_exc()
        click.echo("error: internal error in modelreg — please report it with the trace above",
                   err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK)
