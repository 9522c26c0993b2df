"""The registry's configuration: everything in ``policies/data/``, loaded and checked once.

This is the only code that reads ``policies/data/``. Each file is validated against its JSON
Schema in ``schemas/data/`` (plus the checks a schema cannot express, such as a stage's
``requires`` naming an earlier stage) when it is loaded, and a mistake is reported with file
and line: ``modelreg check`` and ``modelreg validate`` turn it into an ID-01 finding. A typo
such as ``role:`` for ``roles:`` in ``people.yaml`` is thus named where it is, instead of
surfacing later as a person whose approval does not count.

Files are read through the registry's reading methods (``load``, ``read_bytes``,
``list_dir``), so a view of the registry at another revision gives that revision's
configuration. The Rego policies see the same files, unchanged, as ``data.registry.<stem>``
(:attr:`RegistryConfig.data`). Each schema in ``schemas/data/`` describes its file field by
field.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from modelreg.core import stages as stagemod
from modelreg.core.errors import CannotRunError, InputError, ModelregError, UsageError
from modelreg.core.records import Finding
from modelreg.core.yamlio import Document, locate, parse_text
from modelreg.store.schemas import json_path, violations

DATA_DIR = "policies/data"
SCHEMA_DIR = "schemas/data"
SCHEMA_RULE = "ID-01"        # the rule id of a configuration file that fails its schema
_SUFFIXES = (".yaml", ".yml", ".json")

# The configuration defaults: what a registry without environments.yaml promotes through
# (the shipped environments.yaml says the same), and the branch stage tags are made on.
DEFAULT_PROTECTED_BRANCH = "main"
DEFAULT_ENVIRONMENTS: dict[str, Any] = {
    "protected_branch": DEFAULT_PROTECTED_BRANCH,
    "stages": [
        {"name": "staging", "description": "Pre-production."},
        {"name": "production", "description": "Serves decisions.", "requires": "staging"},
    ],
}


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


class Reader(Protocol):
    """What the configuration needs from a registry (the work tree or a revision)."""

    def load(self, rel_path: str) -> Document: ...

    def read_bytes(self, rel_path: str) -> bytes: ...

    def list_dir(self, rel_path: str) -> list[str]: ...


class ConfigError(InputError):
    """A file in ``policies/data/`` does not match its schema (exit 1).

    ``findings`` holds every problem as an ID-01 finding with file and line; the message
    is the first of them."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = tuple(sorted(findings, key=Finding.sort_key))
        first = self.findings[0]
        more = len(self.findings) - 1
        super().__init__(first.message + (f" (and {more} more)" if more else ""),
                         file=first.file, line=first.line,
                         hint=f"fix {DATA_DIR}/; `modelreg validate` lists every problem")


@dataclass(frozen=True)
class Stage:
    """A configured stage (environment), from ``environments.yaml``."""

    name: str
    description: str = ""
    requires: str | None = None      # a stage the version must have held before this one


@dataclass(frozen=True)
class Person:
    """Someone who acts in the registry, by GitHub login (``people.yaml``)."""

    login: str
    name: str
    email: str | None
    teams: tuple[str, ...]
    roles: tuple[str, ...]
    emails: tuple[str, ...] = ()     # further addresses the person commits with


@dataclass(frozen=True)
class Team:
    """A team and its GitHub handle (``teams.yaml``)."""

    name: str
    github: str | None
    description: str = ""


@dataclass(frozen=True)
class CodeOwnerRules:
    """Who owns which paths (``codeowners.yaml``), as team names."""

    governance: tuple[str, ...] = ()
    new_models: tuple[str, ...] = ()
    stage_owners: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)   # risk tier -> teams
    validation: tuple[str, ...] = ()      # own models/NAME/validation/ (findings, GOV-06)


@dataclass(frozen=True)
class CardRules:
    """Which card sections each stage requires (``cards.yaml``)."""

    min_chars: int = 1
    placeholders: tuple[str, ...] = ()
    required: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)    # stage -> headings
    high_risk: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)


@dataclass(frozen=True)
class SigningKey:
    """A public key whose signatures over weights are trusted (``signing.yaml``)."""

    id: str
    public_key: str
    owner: str | None = None


@dataclass(frozen=True)
class AllowedSigner:
    """A public key whose signatures over registry tags are trusted (``tag-signing.yaml``)."""

    id: str
    format: str                      # "ssh" or "openpgp"
    key: str                         # an OpenSSH public key line, or an armored OpenPGP key
    note: str = ""


@dataclass(frozen=True)
class TagSigning:
    """Whether registry tags must be signed, and by whom (``tag-signing.yaml``). A registry
    without the file requires signed tags and allows no signer: running unsigned is only
    ever by saying so (``signed_tags: false``)."""

    required: bool = True
    signers: tuple[AllowedSigner, ...] = ()
    declared: bool = False           # whether tag-signing.yaml exists


@dataclass(frozen=True, eq=False)
class RegistryConfig:
    """The registry's configuration at one revision. Load it with :meth:`load` (or use
    ``Registry.config``); every field is read-only."""

    data: Mapping[str, Any]                    # file stem -> parsed file: Rego's data.registry
    files: tuple[str, ...]                     # the files it was read from
    stages: tuple[Stage, ...]                  # configured stages, in promotion order
    protected_branch: str
    people: Mapping[str, Person]
    teams: Mapping[str, Team]
    tiers: Mapping[str, Mapping[str, Any]]     # risk tier ("1") -> parameters
    roles: Mapping[str, tuple[str, ...]]       # process step -> roles that may act
    codeowners: CodeOwnerRules
    datasets: Mapping[str, Mapping[str, Any]]  # dataset id -> entry (revisions, licence…)
    licenses: tuple[str, ...]
    signing_keys: Mapping[str, SigningKey]
    signature_tiers: tuple[int, ...]           # tiers that need a signature in the last stage
    rules: Mapping[str, Mapping[str, Any]]     # rule id -> catalogue entry
    cards: CardRules
    tag_signing: TagSigning = TagSigning()

    # --- stage order -------------------------------------------------------------------
    @property
    def stage_names(self) -> tuple[str, ...]:
        """The configured stages in promotion order (without ``registered``)."""
        return tuple(s.name for s in self.stages)

    @property
    def stage_order(self) -> tuple[str, ...]:
        """``registered``, then the configured stages in promotion order."""
        return stagemod.order(self.stage_names)

    @property
    def stage_rank(self) -> dict[str, int]:
        """Stage name -> position in :attr:`stage_order`."""
        return stagemod.rank(self.stage_order)

    @property
    def last_stage(self) -> str:
        """The final stage of promotion (the one that serves decisions)."""
        return self.stage_order[-1]

    def file(self, stem: str) -> str:
        """The root-relative path of a configuration file, e.g. ``file("people")`` (the
        ``.yaml`` name when the file does not exist)."""
        return next((f for f in self.files if f.rpartition("/")[2].rpartition(".")[0] == stem),
                    f"{DATA_DIR}/{stem}.yaml")

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def check_stage(self, name: str, *, registered: bool = True) -> str:
        """``name`` when it is a known stage; a :class:`UsageError` listing them otherwise."""
        known = self.stage_order if registered else self.stage_names
        if name not in known:
            raise UsageError(f"unknown stage {name!r}; known stages: {', '.join(known)}",
                             hint=f"stages come from {DATA_DIR}/environments.yaml")
        return name

    # --- loading -----------------------------------------------------------------------
    @classmethod
    def load(cls, reader: Reader) -> RegistryConfig:
        """Read and check every file in ``policies/data/``.

        Raises :class:`CannotRunError` when a file does not parse (the policies cannot run
        without it) and :class:`ConfigError` when files do not match their schemas."""
        docs: dict[str, Document] = {}
        for name in reader.list_dir(DATA_DIR):
            stem, dot, suffix = name.rpartition(".")
            if not dot or f".{suffix}" not in _SUFFIXES:
                continue
            rel = f"{DATA_DIR}/{name}"
            try:
                doc = reader.load(rel)
            except ModelregError as exc:
                raise CannotRunError(f"policy data does not load: {exc.message}", file=rel,
                                     line=exc.line,
                                     hint="fix the file; policies cannot run without it"
                                     ) from None
            if stem in docs:
                raise CannotRunError(f"two files hold {stem!r}: {docs[stem].path} and {rel}",
                                     file=rel, hint="keep one of them")
            docs[stem] = doc
        findings = _schema_findings(reader, docs)
        if not findings:
            findings = _cross_findings(docs)
        if findings:
            raise ConfigError(findings)
        return _build(docs)


def protected_branch_of(reader: Reader) -> str:
    """Only the protected branch's name (``environments.yaml``), without loading and checking
    the whole configuration: what every read of the tags needs, cheaply. ``main`` when the
    file is missing or does not say."""
    for name in reader.list_dir(DATA_DIR):
        stem, dot, suffix = name.rpartition(".")
        if stem == "environments" and f".{suffix}" in _SUFFIXES:
            try:
                data = reader.load(f"{DATA_DIR}/{name}").data
            except ModelregError:
                break
            if isinstance(data, dict) and isinstance(data.get("protected_branch"), str) \
                    and data["protected_branch"]:
                return data["protected_branch"]
            break
    return DEFAULT_PROTECTED_BRANCH


def _schema_findings(reader: Reader, docs: dict[str, Document]) -> list[Finding]:
    """Each file against ``schemas/data/<stem>.schema.json`` (a file without a schema, e.g.
    the organisation's own data for its own policies, is loaded as it is)."""
    available = set(reader.list_dir(SCHEMA_DIR))
    out: list[Finding] = []
    for stem, doc in docs.items():
        schema_name = f"{stem}.schema.json"
        if schema_name not in available:
            continue
        schema_rel = f"{SCHEMA_DIR}/{schema_name}"
        try:
            schema = json.loads(reader.read_bytes(schema_rel))
        except ValueError as exc:
            raise CannotRunError(f"{schema_rel} is not valid JSON: {exc}",
                                 hint="fix the schema file") from None
        data = {} if doc.data is None else doc.data
        for parts, message in violations(schema, data, name=schema_rel):
            out.append(Finding(doc.path, SCHEMA_RULE, message, line=locate(doc, parts),
                               path=json_path(parts)))
    return out


def _cross_findings(docs: dict[str, Document]) -> list[Finding]:
    """What a schema cannot say: names that must refer to something another line defines."""
    out: list[Finding] = []

    def add(stem: str, parts: list[str | int], message: str) -> None:
        doc = docs[stem]
        out.append(Finding(doc.path, SCHEMA_RULE, f"{json_path(parts)}: {message}",
                           line=locate(doc, parts), path=json_path(parts)))

    env = _data(docs, "environments")
    seen: list[str] = [stagemod.REGISTERED]
    for i, stage in enumerate(env.get("stages") or []):
        if not isinstance(stage, dict):
            continue
        name, requires = stage.get("name"), stage.get("requires")
        if name in seen:
            add("environments", ["stages", i, "name"], f"stage {name!r} is listed twice")
        if requires is not None and requires not in seen:
            add("environments", ["stages", i, "requires"],
                f"{name} requires {requires!r}, which is not a stage listed before it")
        seen.append(name)
    teams = _data(docs, "teams").get("teams")
    if teams is not None:
        for login, person in _data(docs, "people").get("people", {}).items():
            for i, team in enumerate(person.get("teams") or [] if isinstance(person, dict)
                                     else []):
                if team not in teams:
                    add("people", ["people", login, "teams", i],
                        f"team {team!r} is not in teams.yaml")
        owners = _data(docs, "codeowners")
        for key in ("governance", "new_models", "validation_owners"):
            for i, team in enumerate(owners.get(key) or []):
                if team not in teams:
                    add("codeowners", [key, i], f"team {team!r} is not in teams.yaml")
        for tier, names in (owners.get("stage_owners") or {}).items():
            for i, team in enumerate(names or []):
                if team not in teams:
                    add("codeowners", ["stage_owners", tier, i],
                        f"team {team!r} is not in teams.yaml")
    ids: set[str] = set()
    for i, signer in enumerate(_data(docs, "tag-signing").get("allowed_signers") or []):
        if not isinstance(signer, dict):
            continue
        if signer.get("id") in ids:
            add("tag-signing", ["allowed_signers", i, "id"],
                f"signer {signer.get('id')!r} is listed twice")
        ids.add(signer.get("id"))
        if signer.get("format") == "ssh" and isinstance(signer.get("key"), str):
            if problem := _ssh_key_problem(signer["key"]):
                add("tag-signing", ["allowed_signers", i, "key"], problem)
    return out


def _ssh_key_problem(line: str) -> str | None:
    """Why an OpenSSH public key line is unusable (its base64 must name the same key type as
    the line does), or None."""
    import base64  # noqa: PLC0415
    import binascii  # noqa: PLC0415

    kind, _, rest = line.strip().partition(" ")
    try:
        blob = base64.b64decode(rest.split(" ", 1)[0], validate=True)
    except (binascii.Error, ValueError):
        return "the key is not valid base64"
    size = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4:4 + size].decode("ascii", "replace") != kind:
        return f"the key's data is not a {kind} key"
    return None


def _data(docs: dict[str, Document], stem: str) -> dict[str, Any]:
    doc = docs.get(stem)
    return doc.data if doc is not None and isinstance(doc.data, dict) else {}


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


def _frozen(mapping: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(mapping)


def _build(docs: dict[str, Document]) -> RegistryConfig:
    data: dict[str, Any] = {stem: ({} if doc.data is None else doc.data)
                            for stem, doc in docs.items()}
    if "environments" not in data:
        data["environments"] = json.loads(json.dumps(DEFAULT_ENVIRONMENTS))
    env = data["environments"]
    stages = tuple(Stage(str(s["name"]), str(s.get("description") or ""), s.get("requires"))
                   for s in env.get("stages") or [])
    people = {str(login): Person(str(login), str(p.get("name") or login), p.get("email"),
                                 _strs(p.get("teams")), _strs(p.get("roles")),
                                 _strs(p.get("emails")))
              for login, p in (data.get("people", {}).get("people") or {}).items()}
    teams = {str(n): Team(str(n), t.get("github"), str(t.get("description") or ""))
             for n, t in (data.get("teams", {}).get("teams") or {}).items()}
    tiers = data.get("tiers", {})
    owners = data.get("codeowners", {})
    cards = data.get("cards", {})
    signing = data.get("signing", {})
    tagsig = data.get("tag-signing", {})
    return RegistryConfig(
        data=data,
        files=tuple(doc.path for doc in docs.values()),
        stages=stages,
        protected_branch=str(env.get("protected_branch") or DEFAULT_PROTECTED_BRANCH),
        people=_frozen(people),
        teams=_frozen(teams),
        tiers=_frozen({str(k): _frozen(dict(v)) for k, v in (tiers.get("tiers") or {}).items()}),
        roles=_frozen({str(k): _strs(v) for k, v in (tiers.get("roles") or {}).items()}),
        codeowners=CodeOwnerRules(
            _strs(owners.get("governance")), _strs(owners.get("new_models")),
            _frozen({str(k): _strs(v) for k, v in (owners.get("stage_owners") or {}).items()}),
            _strs(owners.get("validation_owners"))),
        datasets=_frozen(dict(data.get("datasets", {}).get("datasets") or {})),
        licenses=_strs(data.get("licenses", {}).get("allowed")),
        signing_keys=_frozen({str(k): SigningKey(str(k), str(v["public_key"]), v.get("owner"))
                              for k, v in (signing.get("keys") or {}).items()
                              if isinstance(v, dict) and "public_key" in v}),
        signature_tiers=tuple(int(t) for t in signing.get("production_requires_signature") or ()),
        rules=_frozen({str(k): v for k, v in (data.get("rules", {}).get("rules") or {}).items()}),
        cards=CardRules(
            min_chars=int(cards.get("min_chars", 1)),
            placeholders=_strs(cards.get("placeholders")),
            required=_frozen({str(k): _strs(v) for k, v in (cards.get("required") or {}).items()}),
            high_risk=_frozen({str(k): _strs(v)
                               for k, v in (cards.get("high_risk") or {}).items()})),
        tag_signing=tag_signing_from(tagsig, declared="tag-signing" in docs),
    )


TAG_SIGNING_FILE = f"{DATA_DIR}/tag-signing.yaml"


def tag_signing_of(registry: Any, tip: str | None) -> TagSigning:
    """Who may sign registry tags: ``tag-signing.yaml`` as the protected branch's ``tip``
    has it (reviewed data: a branch or a work tree cannot trust a key for itself); the
    registry's own files only when this clone has no protected branch (``tip`` None). Read
    alone, like :func:`protected_branch_of`: listing tags must not wait for the whole
    configuration."""
    rel = TAG_SIGNING_FILE
    try:
        if tip is not None:
            text = registry.git.run("cat-file", "blob", f"{tip}:{rel}", check=False)
            return tag_signing_from(parse_text(text, rel)) if text else \
                tag_signing_from(None, declared=False)
        if not registry.is_file(rel):
            return tag_signing_from(None, declared=False)
        return tag_signing_from(registry.load(rel).data)
    except ModelregError:
        return tag_signing_from(None)              # unreadable: fail closed


def tag_signing_from(data: Any, *, declared: bool = True) -> TagSigning:
    """``tag-signing.yaml``'s content as a :class:`TagSigning`. What does not have the
    schema's shape fails closed: signed tags required, no signer allowed."""
    if not isinstance(data, dict):
        return TagSigning(declared=declared)
    signers = data.get("allowed_signers") or []
    if not isinstance(signers, list) or not all(
            isinstance(s, dict) and {"id", "format", "key"} <= s.keys() for s in signers):
        return TagSigning(declared=declared)
    return TagSigning(
        required=data.get("signed_tags", True) is not False,
        signers=tuple(AllowedSigner(str(s["id"]), str(s["format"]), str(s["key"]).strip(),
                                    str(s.get("note") or "")) for s in signers),
        declared=declared)


__all__ = ["RegistryConfig", "ConfigError", "protected_branch_of", "tag_signing_of", "tag_signing_from", "Stage", "Person", "Team",
           "CodeOwnerRules", "CardRules", "SigningKey",
           "AllowedSigner", "TagSigning", "DATA_DIR", "DEFAULT_ENVIRONMENTS"]
