"""A thin, honest wrapper around the ``git`` command line.

Bulk reads go through one subprocess each: every tag with its target, tagger and message in
one ``git for-each-ref``; historical file contents through one ``git cat-file --batch``
process. GitPython's per-tag loop is quadratic on packed refs (docs/architecture.md#reading-fast).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import NamedTuple

from modelreg.core.errors import CannotRunError, CommandError
from modelreg.core.tags import without_signature
from modelreg.store.cache import ContentCache

_REF_FORMAT = "%00".join([
    "%(refname)", "%(tag)", "%(objecttype)", "%(objectname)", "%(*objectname)", "%(*objecttype)",
    "%(taggername)", "%(taggeremail)", "%(taggerdate:unix)", "%(creatordate:unix)",
    "%(contents)",
]) + "%1e"


class Ref(NamedTuple):
    """One ref as ``for-each-ref`` reports it (tag objects peeled one level). A named tuple:
    a registry reads tens of thousands of them per command."""

    name: str               # short name, e.g. ``iris-classifier@v1.0.0``
    object_type: str        # "tag" for annotated tags, "commit" for lightweight ones
    object: str             # the ref's own object id
    target: str             # the commit it points at (peeled)
    target_type: str        # type of ``target``; "tag" for a tag of a tag
    tagger_name: str
    tagger_email: str
    time: int               # tagger date (annotated) or commit date (lightweight), unix
    message: str
    tag_name: str = ""      # the name inside the tag object
    raw_message: str = ""   # the annotation without its signature, whoever's name points here

    @property
    def annotated(self) -> bool:
        # A ref may point at *another* tag's object (`git tag NEW OLD`): that borrows the
        # old annotation, so it only counts as annotated when the object names this tag.
        return self.object_type == "tag" and self.tag_name == self.name


class RefMemo:
    """What ``for-each-ref`` said of each tag object, by its id (and whether the whole
    annotation or its subject line was read), kept in the clone's ``.git/modelreg/``.

    A tag object, like every git object, is named by its content: the id fixes the tag's
    name inside, target, tagger, date and message. Only the ref's own name is not part of
    it (``git tag NEW OLD`` points a second name at one object), so that is never kept."""

    def __init__(self, cache: ContentCache) -> None:
        self.cache = cache
        self.used: set[str] = set()

    def get(self, mode: str, oid: str) -> list | None:
        return self.cache.get(mode + oid)

    def put(self, mode: str, ref: Ref) -> None:
        self.cache.put(mode + ref.object, [ref.tag_name, ref.object_type, ref.target,
                                           ref.target_type, ref.tagger_name,
                                           ref.tagger_email, ref.time, ref.raw_message])

    def ref(self, mode: str, refname: str, oid: str) -> Ref | None:
        fields = self.cache.get(mode + oid)
        if not isinstance(fields, list) or len(fields) != 8:
            return None
        self.used.add(mode + oid)
        tag_name, otype, target, target_type, tname, temail, stamp, message = fields
        return _ref(refname, tag_name, otype, oid, target, target_type, tname, temail, stamp,
                    message)

    def save(self) -> None:
        """Write what was learnt; only the tags this run listed are kept."""
        self.cache.save(keep=self.used)


def _ref(refname: str, tag_name: str, otype: str, oid: str, target: str, target_type: str,
         tagger_name: str, tagger_email: str, time: int, message: str) -> Ref:
    """A :class:`Ref` from what ``for-each-ref`` gives (or :class:`RefMemo` kept): the
    annotation counts only for the name the tag object carries."""
    name = refname[len("refs/tags/"):] if refname.startswith("refs/tags/") else refname
    annotated = otype == "tag" and tag_name == name
    return Ref(name=name, object_type=otype, object=oid, target=target,
               target_type=target_type, tagger_name=tagger_name, tagger_email=tagger_email,
               time=time, message=message if annotated else "", tag_name=tag_name,
               raw_message=message)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["LC_ALL"] = "C"
    return env


def blob_id(data: bytes) -> str:
    """The id git gives a file holding ``data`` (``git hash-object``, SHA-1 repositories)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class Git:
    """Runs git in one repository (``root`` is the work tree's top level)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def run(self, *args: str, input: str | None = None, check: bool = True,
            env: dict[str, str] | None = None, hint: str | None = None) -> str:
        cmd = ["git", *args]
        try:
            proc = subprocess.run(cmd, cwd=self.root, input=input, capture_output=True,
                                  text=True, env={**_env(), **(env or {})})
        except FileNotFoundError:
            raise CannotRunError("git is not installed", hint="install git and retry") from None
        if check and proc.returncode != 0:
            raise CommandError(cmd, proc.returncode, proc.stdout, proc.stderr, hint=hint)
        return proc.stdout

    def lines_until(self, stop: str, *args: str) -> tuple[list[str], bool]:
        """The output lines of a git command up to (not including) the first line that
        starts with ``stop``, and whether it was found; git is stopped there, so a walk
        of history costs only what is read (``rev-list`` from a tip down to a known commit)."""
        try:
            proc = subprocess.Popen(["git", *args], cwd=self.root, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True, env=_env())
        except FileNotFoundError:
            raise CannotRunError("git is not installed", hint="install git and retry") from None
        out: list[str] = []
        found = False
        assert proc.stdout is not None
        with proc:
            for line in proc.stdout:
                if stop and line.startswith(stop):
                    found = True
                    proc.kill()
                    break
                out.append(line.rstrip("\n"))
            proc.stdout.close()
        return out, found

    def ok(self, *args: str) -> bool:
        """True when the git command exits 0 (for questions like ``merge-base --is-ancestor``)."""
        proc = subprocess.run(["git", *args], cwd=self.root, capture_output=True, env=_env())
        return proc.returncode == 0

    # --- questions -------------------------------------------------------------------
    @staticmethod
    def toplevel(path: str | os.PathLike) -> Path:
        proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path,
                              capture_output=True, text=True, env=_env())
        if proc.returncode != 0:
            raise CannotRunError(f"{path} is not inside a git repository",
                                 hint="run modelreg inside the registry's clone")
        return Path(proc.stdout.strip())

    def head(self) -> str | None:
        out = self.run("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False).strip()
        return out or None

    def branch(self) -> str | None:
        out = self.run("symbolic-ref", "-q", "--short", "HEAD", check=False).strip()
        return out or None

    def branch_exists(self, name: str) -> bool:
        return self.ok("show-ref", "--verify", "-q", f"refs/heads/{name}")

    def is_dirty(self) -> bool:
        return bool(self.run("status", "--porcelain", "--untracked-files=no").strip())

    def uncommitted(self, *paths: str) -> list[tuple[str, str]]:
        """(status, path) of every file under ``paths`` that differs from ``HEAD``: staged,
        modified or deleted (``git status``'s two letters, e.g. ``" M"``) or untracked
        (``"??"``); ignored files are left out."""
        out = self.run("status", "--porcelain=v1", "-z", "--no-renames",
                       "--untracked-files=all", "--", *paths)
        return [(entry[:2], entry[3:]) for entry in out.split("\0") if entry]

    def tracked(self, paths: list[str]) -> set[str]:
        """Which of ``paths`` (relative to the root) git tracks."""
        if not paths:
            return set()
        out = self.run("ls-files", "-z", "--", *paths)
        return {p for p in out.split("\0") if p}

    def refs(self, patterns: list[str], contents: bool = True,
             memo: RefMemo | None = None) -> list[Ref]:
        """Every ref matching ``patterns`` in one ``for-each-ref`` call (``contents=False``:
        only the annotation's subject line).

        With ``memo``: the refs' names and object ids only (git reads no tag object for
        that), and the rest from ``memo``, which remembers each tag by its object id: a tag
        object never changes, so only tags made since the last call are read in full."""
        if memo is None:
            return self._refs(patterns, contents)
        mode = "c" if contents else "s"
        listing = [line.split("\0", 1) for line in self.run(
            "for-each-ref", "--format=%(refname)%00%(objectname)", *patterns).splitlines()]
        missing = [ref for ref, oid in listing if memo.get(mode, oid) is None]
        if missing:
            # a few new tags by their exact names; many (a first run) in the one listing
            for ref in self._refs(missing if len(missing) <= 200 else patterns, contents):
                memo.put(mode, ref)
        out = []
        for refname, oid in listing:
            ref = memo.ref(mode, refname, oid)
            if ref is None:                # a tag moved between the two calls: read afresh
                return self._refs(patterns, contents)
            out.append(ref)
        return out

    def _refs(self, patterns: list[str], contents: bool) -> list[Ref]:
        fmt = _REF_FORMAT if contents else _REF_FORMAT.replace("%(contents)", "%(subject)")
        out = self.run("for-each-ref", f"--format={fmt}", *patterns)
        refs: list[Ref] = []
        for record in out.split("\x1e"):
            record = record.lstrip("\n")
            if not record:
                continue
            parts = record.split("\0", 10)
            if len(parts) != 11:
                continue
            (refname, tag_name, otype, obj, peeled, peeled_type, tname, temail, tdate, cdate,
             message) = parts
            # a tag object's creator date is its tagger date: the same for every name
            stamp = tdate if otype == "tag" and tdate else cdate
            refs.append(_ref(
                refname, tag_name, otype, obj, peeled if otype == "tag" else obj,
                peeled_type if otype == "tag" else otype, tname, temail.strip("<>"),
                int(stamp) if stamp.strip() else 0,
                without_signature(message) if otype == "tag" else ""))
        return refs


def read_objects(git: Git, requests: list[tuple[str, str]]) -> list[tuple[str, bytes | None] | None]:
    """Many object reads through one ``git cat-file --batch-command`` process, all asked at
    once: each request is ``("info", spec)`` (the object's id only) or ``("contents", spec)``;
    each answer ``(object id, contents or None)``, or None when the object is missing."""
    if not requests:
        return []
    data = "".join(f"{cmd} {spec}\n" for cmd, spec in requests).encode()
    try:
        proc = subprocess.run(["git", "cat-file", "--batch-command", "--buffer"], cwd=git.root,
                              input=data, capture_output=True, env=_env())
    except FileNotFoundError:
        raise CannotRunError("git is not installed", hint="install git and retry") from None
    if proc.returncode != 0:
        raise CommandError(["git", "cat-file", "--batch-command"], proc.returncode, "",
                           proc.stderr.decode(errors="replace"))
    out, pos, answers = proc.stdout, 0, []
    for cmd, _ in requests:
        end = out.index(b"\n", pos)
        header = out[pos:end].decode(errors="replace").split()
        pos = end + 1
        if len(header) != 3 or header[1] in ("missing", "ambiguous"):
            answers.append(None)
            continue
        if cmd == "contents":
            size = int(header[2])
            answers.append((header[0], out[pos:pos + size]))
            pos += size + 1
        else:
            answers.append((header[0], None))
    return answers


class CatFile:
    """One ``git cat-file --batch`` process for many historical file reads."""

    def __init__(self, git: Git) -> None:
        self._proc = subprocess.Popen(
            ["git", "cat-file", "--batch"], cwd=git.root, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env())

    def read(self, spec: str) -> bytes | None:
        """Contents of ``spec`` (``<rev>:<path>`` or an object id), or None if missing."""
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(spec.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().decode()
        if header.endswith("missing\n") or not header:
            return None
        size = int(header.split()[2])
        data = self._proc.stdout.read(size)
        self._proc.stdout.read(1)  # trailing newline
        return data

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait()

    def __enter__(self) -> CatFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
