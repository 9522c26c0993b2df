"""Registry documents as findings: each record read, schema-checked and tied to its
neighbours (names match folders, versions match file names, DVC pointers match the recorded
hashes). Used by ``validate``, ``check``, ``promote`` and the gate; works on the work tree or
any revision (the ``Registry`` it is given)."""
from __future__ import annotations

from importlib import metadata
from typing import Any

from modelreg.core import tags as tagmod
from modelreg.core.errors import InputError, ModelregError
from modelreg.core.records import Finding
from modelreg.core.yamlio import MAX_BYTES, Document, decode, locate, parse_text
from modelreg.store.cache import Store, blob_id, digest, release_salt
from modelreg.store.dvc import MAX_POINTER_BYTES, parse_pointer
from modelreg.store.registry import MODELS_DIR, Registry
from modelreg.store.schemas import Schemas, json_path, kind_of

# Rule ids for what validate finds (the policy catalogue's identity and artifact families).
UNREADABLE = "ID-00"     # the file cannot be read or parsed
SCHEMA = "ID-01"         # JSON-Schema violation
NAMING = "ID-02"         # name does not match its folder
VERSIONING = "ID-03"     # version does not match its file name / stages name an unknown version
POINTER = "ART-01"       # .dvc pointer missing or disagreeing with the record


def model_and_version(rel: str) -> tuple[str | None, str | None]:
    parts = rel.split("/")
    model = parts[1] if len(parts) > 2 else None
    version = parts[3][:-5] if len(parts) == 4 and parts[2] == "versions" else \
        parts[3] if len(parts) == 5 and parts[2] == "monitoring" else None
    return model, version


def unreadable(rel: str, exc: ModelregError, model: str | None,
               version: str | None = None) -> Finding:
    """ID-00: a registry file that cannot be read or parsed, with what to do about it."""
    return Finding(rel, UNREADABLE, exc.message + (f" ({exc.hint})" if exc.hint else ""),
                   line=exc.line, model=model, version=version)


def plain(data: Any) -> bool:
    """Whether ``data`` is exactly what JSON gives back (strings, numbers, booleans, null,
    lists, string-keyed mappings): only such a record is cached. A ``!!binary`` or ``!!set``
    value is parsed again each time rather than come back as something else."""
    stack = [data]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is dict:
            if not all(type(k) is str for k in value):
                return False
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        elif kind not in (str, int, float, bool, type(None)):
            return False
    return True


def _tools() -> str:
    """The releases of the libraries a record's result depends on (parser, validators)."""
    import yaml  # noqa: PLC0415 - yamlio has imported it already

    found = [f"pyyaml={yaml.__version__}/{getattr(yaml, '__with_libyaml__', False)}"]
    for dist in ("jsonschema-rs", "jsonschema"):
        try:
            found.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist}=none")
    return ",".join(found)


class RecordCache:
    """Records parsed and schema-checked, by content (store/cache.py's :class:`Store`,
    ``records``). An entry's key is the record's blob id, its kind, the sha256 of the schema
    that judged it, and the releases of modelreg and of the parser and validators: a record
    whose bytes, schema and tools did not change is not parsed or validated again. The
    neighbour checks (names, versions, pointers) are cheap and always made afresh."""

    def __init__(self, registry: Registry, *, use: bool = True) -> None:
        self.store = Store(registry.root, "records", use=use)
        self.salt = digest(release_salt(), _tools())

    def read(self, registry: Registry, schemas: Schemas, rel: str, kind: str
             ) -> tuple[Document, list[tuple[list[str | int], str, int | None]]]:
        """The parsed record and its schema violations (path, message, line); raises
        :class:`ModelregError` as :meth:`Registry.load` does."""
        raw = registry.read_bytes(rel)
        if len(raw) > MAX_BYTES:
            raise InputError(f"file is {len(raw)} bytes, over the {MAX_BYTES}-byte limit",
                             file=rel, hint="metadata files are small; keep weights under DVC")
        text = decode(raw, rel)
        key = digest(self.salt, kind, schemas.digest(kind), blob_id(raw))
        hit = self.store.get(key)
        if isinstance(hit, dict):
            error = hit.get("error")
            if isinstance(error, dict):
                raise InputError(str(error.get("message")), file=rel, line=error.get("line"),
                                 hint=error.get("hint"))
            if "data" in hit and isinstance(hit.get("schema"), list):
                return Document(rel, text, hit["data"]), \
                    [(list(parts), message, line) for parts, message, line in hit["schema"]]
        try:
            data = parse_text(text, rel)
        except InputError as exc:
            self.store.put(key, {"error": {"message": exc.message, "line": exc.line,
                                           "hint": exc.hint}})
            raise
        doc = Document(rel, text, data)
        errors = [(parts, message, locate(doc, parts))
                  for parts, message in schemas.errors(kind, data)]
        if plain(data):
            self.store.put(key, {"data": data, "schema": [list(e) for e in errors]})
        return doc, errors

    def save(self) -> None:
        self.store.save()


def validate_file(registry: Registry, schemas: Schemas, rel: str, *,
                  loaded: dict[str, Document] | None = None,
                  cache: RecordCache | None = None) -> list[Finding]:
    """Findings for one record. With ``loaded``, the parsed document is also stored there
    under ``rel`` (when it parses), so a caller such as ``check`` does not parse it again;
    with ``cache``, a record seen before (same bytes, same schema) is not parsed again."""
    kind = kind_of(rel)
    model, version = model_and_version(rel)
    if kind is None:
        return []
    errors: list[tuple[list[str | int], str, int | None]] | None = None
    if cache is not None:
        schemas.digest(kind)         # a missing schema stops the run, as below without a cache
    try:
        if cache is not None:
            doc, errors = cache.read(registry, schemas, rel, kind)
        else:
            doc = registry.load(rel)
    except ModelregError as exc:
        if cache is not None and not isinstance(exc, InputError):
            raise                    # the schema cannot be used: not this record's problem
        return [unreadable(rel, exc, model, version)]
    if errors is None:
        errors = [(parts, message, None) for parts, message in schemas.errors(kind, doc.data)]
    if loaded is not None:
        loaded[rel] = doc
    out: list[Finding] = []

    def add(rule: str, parts: list, message: str, line: int | None = None) -> None:
        out.append(Finding(rel, rule, message, line=line if line is not None else
                           locate(doc, parts), model=model, version=version,
                           path=json_path(parts)))

    for parts, message, line in errors:
        add(SCHEMA, parts, message, line)
    data = doc.data if isinstance(doc.data, dict) else {}
    if kind == "model" and "name" in data and data["name"] != model:
        add(NAMING, ["name"], f"name {data['name']!r} does not match the folder {model!r}; "
                              "rename one of them")
    elif kind == "version":
        if not tagmod.SEMVER_RE.match(version or ""):
            add(VERSIONING, [], f"file name {version!r} is not a SemVer version")
        if "version" in data and str(data["version"]) != version:
            add(VERSIONING, ["version"],
                f"version {data['version']!r} does not match the file name {version!r}")
        if "model" in data and data["model"] != model:
            add(NAMING, ["model"], f"model {data['model']!r} does not match the folder {model!r}")
        out.extend(_check_pointers(registry, doc, data, model, version))
    elif kind == "finding":
        stem = rel.rsplit("/", 1)[1][:-5]
        if "id" in data and str(data["id"]) != stem:
            add(NAMING, ["id"], f"id {data['id']!r} does not match the file name {stem!r}")
        if "model" in data and data["model"] != model:
            add(NAMING, ["model"], f"model {data['model']!r} does not match the folder {model!r}")
        concerns = data.get("version")
        if isinstance(concerns, str) and model and concerns not in registry.version_names(model):
            add(VERSIONING, ["version"], f"the finding concerns version {concerns}, which has "
                                         f"no record (no models/{model}/versions/{concerns}.yaml)")
    elif kind == "stages":
        stages = data.get("stages") if isinstance(data.get("stages"), dict) else {}
        known = set(registry.version_names(model)) if model else set()
        for stage, value in stages.items():
            wanted = value.get("version") if isinstance(value, dict) else value
            if isinstance(wanted, str) and wanted not in known:
                add(VERSIONING, ["stages", stage],
                    f"stage {stage!r} asks for version {wanted}, which is not registered "
                    f"(no models/{model}/versions/{wanted}.yaml)")
    elif kind == "monitoring":
        _check_monitoring(registry, rel, data, model, version, add)
    return out


def _check_monitoring(registry: Registry, rel: str, data: dict, model: str | None,
                      version: str | None, add: Any) -> None:
    """A monitoring record names its model and version as its folders do, is named after its
    window's end, and its window does not end before it starts."""
    if "model" in data and data["model"] != model:
        add(NAMING, ["model"], f"model {data['model']!r} does not match the folder {model!r}")
    if "version" in data and str(data["version"]) != version:
        add(VERSIONING, ["version"],
            f"version {data['version']!r} does not match the folder {version!r}")
    if model and version and not registry.is_file(f"{MODELS_DIR}/{model}/versions/{version}.yaml"):
        add(VERSIONING, [], f"{model} has no version {version} "
                            f"(no {MODELS_DIR}/{model}/versions/{version}.yaml)")
    window = data.get("window") if isinstance(data.get("window"), dict) else {}
    start, end = window.get("start"), window.get("end")
    stem = rel.rsplit("/", 1)[1][:-5]
    if isinstance(end, str) and end != stem:
        add(VERSIONING, ["window", "end"],
            f"the window ends on {end} but the file is named {stem}.yaml: name it {end}.yaml")
    if isinstance(start, str) and isinstance(end, str) and end < start:
        add(SCHEMA, ["window", "end"], f"the window ends ({end}) before it starts ({start})")


def _check_pointers(registry: Registry, doc: Document, data: dict, model: str | None,
                    version: str | None) -> list[Finding]:
    out = []
    artifacts = data.get("artifacts")
    if not isinstance(artifacts, list):
        return out
    for i, art in enumerate(artifacts):
        if not isinstance(art, dict) or not isinstance(art.get("dvc_file"), str):
            continue
        dvc_rel = art["dvc_file"]
        parts = ["artifacts", i, "dvc_file"]
        expected_dir = f"{MODELS_DIR}/{model}/versions/{version}/"
        if not dvc_rel.startswith(expected_dir) or ".." in dvc_rel.split("/"):
            out.append(Finding(doc.path, POINTER, f"DVC pointer {dvc_rel!r} is not inside "
                               f"{expected_dir}", line=locate(doc, parts), model=model, version=version,
                               path=json_path(parts)))
            continue
        if not registry.is_file(dvc_rel):
            out.append(Finding(doc.path, POINTER, f"DVC pointer {dvc_rel} is missing; "
                               "restore it from git history", line=locate(doc, parts), model=model,
                               version=version, path=json_path(parts)))
            continue
        try:
            pointers = parse_pointer(registry.read_text(dvc_rel, max_bytes=MAX_POINTER_BYTES),
                                     dvc_rel)
        except ModelregError as exc:
            out.append(Finding(dvc_rel, UNREADABLE, exc.message, line=exc.line, model=model,
                               version=version))
            continue
        if art.get("md5") not in {p.md5 for p in pointers}:
            out.append(Finding(doc.path, POINTER,
                               f"artifact md5 {art.get('md5')} does not match {dvc_rel} "
                               f"({', '.join(p.md5 for p in pointers)}); the weights changed "
                               "after registration — register a new version instead",
                               line=locate(doc, ["artifacts", i, "md5"]), model=model,
                               version=version, path=json_path(["artifacts", i, "md5"])))
    return out
