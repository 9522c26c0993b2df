"""Keep the generated parts of docs/ true: the command reference and the rule catalogue.

docs/commands.md holds, for every command of the click group in ``modelreg.cli``, an
introduction written by hand and a fenced block with the exact ``--help`` output, rendered at a
fixed terminal width (``COLUMNS`` = ``modelreg.cli.HELP_WIDTH``) so it does not depend on who
runs this. Each block follows a marker line::

    <!-- help: modelreg policy explain -->

docs/policies.md holds one table per rule family, generated from the rule catalogue
(``policies/data/rules*.yaml``, what ``modelreg policy explain`` reads), after::

    <!-- rules: identity -->

Usage (``make docs`` runs ``--write``; tests/test_docs.py fails when ``--check`` would)::

    python tools/docs_commands.py --write   # regenerate the blocks in place, keep the prose
    python tools/docs_commands.py --check   # exit 1 when a block is out of date

A command without a section gets one appended (its introduction is the command's short help:
rewrite it); a section for a command that no longer exists is reported, never deleted, so its
prose can be moved by hand.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMMANDS_MD = ROOT / "docs" / "commands.md"
POLICIES_MD = ROOT / "docs" / "policies.md"


def command_paths() -> Iterator[tuple[str, ...]]:
    """Every command path of the CLI, the group itself first, subcommands in name order."""
    from modelreg.cli import cli

    def walk(cmd: click.Command, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    yield from walk(sub, (*path, name))

    yield from walk(cli, ())


def help_text(path: tuple[str, ...]) -> str:
    """What ``COLUMNS=HELP_WIDTH modelreg PATH --help`` prints (run in this process)."""
    from modelreg.cli import HELP_WIDTH, cli

    out = io.StringIO()
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(HELP_WIDTH)
    try:
        with contextlib.redirect_stdout(out):
            code = cli.main(args=[*path, "--help"], prog_name="modelreg", standalone_mode=False)
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    if code not in (0, None):
        raise SystemExit(f"modelreg {' '.join(path)} --help exited {code}")
    return out.getvalue()


def short_help(path: tuple[str, ...]) -> str:
    from modelreg.cli import cli

    cmd: click.Command = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    return cmd.get_short_help_str(limit=200)


def command_key(path: tuple[str, ...]) -> str:
    return " ".join(("modelreg", *path))


def rules() -> dict[str, dict]:
    """The rule catalogue: every ``rules:`` map of policies/data/rules*.yaml, merged."""
    merged: dict[str, dict] = {}
    for path in sorted((ROOT / "policies" / "data").glob("rules*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        merged.update({str(k): v for k, v in (data.get("rules") or {}).items()})
    return merged


_CHECKED_BY = {"rego": "Rego", "schema": "JSON Schema", "card": "card renderer",
               "verify": "`modelreg verify`", "secrets": "secret detector",
               "rescan": "re-scan of the weights"}


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def rules_table(family: str) -> str:
    """The Markdown table of one rule family."""
    lines = ["| rule | what it checks | gates | severity | checked by | EU AI Act | NIST AI RMF "
             "| SR 11-7 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for rule_id, entry in sorted(rules().items(), key=lambda kv: _rule_order(kv[0])):
        if entry.get("family") != family:
            continue
        reg = entry.get("regulation") or {}
        severity = entry.get("severity", "")
        severity += "" if entry.get("waivable") else ", not waivable"
        lines.append("| " + " | ".join([
            f"**{rule_id}**",
            f"**{_cell(entry.get('title', ''))}.** {_cell(entry.get('checks', ''))}",
            _cell(entry.get("stage", "")), severity,
            _CHECKED_BY.get(entry.get("check", ""), _cell(entry.get("check", ""))),
            _cell(reg.get("eu_ai_act", "–")), _cell(reg.get("nist_ai_rmf", "–")),
            _cell(reg.get("sr_11_7", "–"))]) + " |")
    return "\n".join(lines) + "\n"


def _rule_order(rule_id: str) -> tuple[str, int]:
    prefix, _, number = rule_id.partition("-")
    return prefix, int(number) if number.isdigit() else 0


# A marker line, then the fenced block it owns, up to the closing fence.
_HELP_RE = re.compile(r"^<!-- help: (?P<key>[^>]*?) -->\n```text\n(?P<body>.*?)^```$",
                      re.MULTILINE | re.DOTALL)
# Rule tables are Markdown, not fenced code: a marker owns the table lines that follow it.
_TABLE_RE = re.compile(r"^<!-- rules: (?P<key>[^>]*?) -->\n(?P<body>(?:\|.*\n)*)", re.MULTILINE)


def help_blocks(text: str) -> dict[str, str]:
    """Command -> the ``--help`` block docs/commands.md holds for it."""
    return {m["key"].strip(): m["body"] for m in _HELP_RE.finditer(text)}


def _update(text: str, pattern: re.Pattern[str], wanted: dict[str, str],
            render: Callable[[str, str], str], what: str) -> tuple[str, list[str]]:
    """``text`` with every marked block replaced by its wanted body; what differed."""
    problems: list[str] = []
    seen: set[str] = set()

    def replace(m: re.Match[str]) -> str:
        key = m["key"].strip()
        seen.add(key)
        if key not in wanted:
            problems.append(f"{key}: no such {what} (move or delete its section by hand)")
            return m[0]
        if m["body"] != wanted[key]:
            problems.append(f"{key}: out of date")
        return render(key, wanted[key])

    new = pattern.sub(replace, text)
    for key in wanted:
        if key not in seen:
            problems.append(f"{key}: missing")
            intro = short_help(tuple(key.split()[1:])) if what == "command" else ""
            new = (new.rstrip("\n") + f"\n\n## {'`' + key + '`' if what == 'command' else key}"
                   f"\n\n{intro + chr(10) * 2 if intro else ''}{render(key, wanted[key])}\n")
    return new, problems


def _help_section(key: str, body: str) -> str:
    return f"<!-- help: {key} -->\n```text\n{body}```"


def _rules_section(key: str, body: str) -> str:
    return f"<!-- rules: {key} -->\n{body}"


def regenerate() -> dict[Path, tuple[str, str, list[str]]]:
    """For each generated page: its text now, what it should be, and what differs."""
    out: dict[Path, tuple[str, str, list[str]]] = {}
    help_wanted = {command_key(p): help_text(p) for p in command_paths()}
    old = COMMANDS_MD.read_text(encoding="utf-8")
    new, problems = _update(old, _HELP_RE, help_wanted, _help_section, "command")
    out[COMMANDS_MD] = (old, new, problems)

    families = sorted({str(e.get("family")) for e in rules().values()})
    old = POLICIES_MD.read_text(encoding="utf-8")
    new, problems = _update(old, _TABLE_RE, {f: rules_table(f) for f in families},
                            _rules_section, "rule family")
    out[POLICIES_MD] = (old, new, problems)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the blocks in place")
    mode.add_argument("--check", action="store_true", help="exit 1 when a block is out of date")
    args = parser.parse_args(argv)
    status = 0
    for path, (old, new, problems) in regenerate().items():
        name = path.relative_to(ROOT)
        for problem in problems:
            if args.check or not problem.endswith("out of date"):
                print(f"{name}: {problem}", file=sys.stderr)
        if args.write:
            if new != old:
                path.write_text(new, encoding="utf-8")
                print(f"{name}: updated", file=sys.stderr)
            status |= any("no such" in p for p in problems)
        else:
            status |= bool(problems)
    if args.check and status:
        print("run: python tools/docs_commands.py --write   (or make docs)", file=sys.stderr)
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
