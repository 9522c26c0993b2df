"""Reading and writing registry documents (YAML and JSON) safely.

PyYAML's safe loader accepts duplicate keys silently, expands aliases without limit and turns
timestamps into ``datetime`` objects that JSON Schema cannot check. This module closes each of
those gaps and reports problems as ``file:line: message``.
"""
from __future__ import annotations

import io
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelreg.core.errors import InputError

MAX_BYTES = 1024 * 1024          # a metadata file over 1 MiB is a mistake or an attack
MAX_NODES = 100_000              # expanded node count: stops alias "billion laughs"
MAX_DEPTH = 64                   # nesting depth
MAX_ALIASES = 100

try:  # libyaml's C parser: ~10x faster than the pure-Python one (docs/architecture.md#reading-fast)
    _BaseLoader = yaml.CSafeLoader
    _BaseDumper = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - libyaml missing
    _BaseLoader = yaml.SafeLoader  # type: ignore[misc]
    _BaseDumper = yaml.SafeDumper  # type: ignore[misc]


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader: no timestamps (kept as strings), duplicate keys rejected."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        self.last_node = node          # for the line of a value that fails to convert
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        # reached only through explicit tags (!!omap, !!set…): the same key rules apply
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            _checked_key(key_node, seen, lambda n: self.construct_object(n, deep=True))
        return super().construct_mapping(node, deep=deep)


_STR = "tag:yaml.org,2002:str"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    """libyaml's emitter: exact for every string (the pure-Python one mangles some line
    separators when writing Unicode); lists sit at their key's indentation."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


@dataclass(frozen=True)
class Document:
    """A parsed file: where it came from, its text (for locating lines) and its data."""

    path: str
    text: str
    data: Any


def read_text(path: str | os.PathLike, *, display: str | None = None,
              max_bytes: int = MAX_BYTES) -> str:
    """Read a UTF-8 file, refusing what is not a regular file and oversized files."""
    name = display or str(path)
    return decode(read_bytes(path, display=name, max_bytes=max_bytes), name)


def read_bytes(path: str | os.PathLike, *, display: str | None = None,
               max_bytes: int = MAX_BYTES) -> bytes:
    """Read a file's bytes; a folder, FIFO, socket or device where a file belongs is an
    :class:`InputError` ("not a regular file"), never a crash or a read that blocks."""
    name = display or str(path)
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError("file not found", file=name) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=name) from None
    if not stat.S_ISREG(st.st_mode):      # a FIFO or /dev/zero would block or never end
        raise InputError("not a regular file", file=name,
                         hint="put a regular file here, not a folder, FIFO or device")
    size = st.st_size
    if size > max_bytes:
        raise InputError(f"file is {size} bytes, over the {max_bytes}-byte limit",
                         file=name, hint="metadata files are small; keep weights under DVC")
    try:
        return p.read_bytes()
    except OSError as exc:         # replaced between stat and read, or no permission
        raise InputError(f"cannot read: {exc.strerror}", file=name) from None


def decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"not valid UTF-8 (byte {exc.start})", file=name, line=line,
                         hint="save the file as UTF-8") from None


_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _checked_key(key_node: yaml.Node, seen: dict[str, int], construct: Any) -> str:
    """A mapping key, refused when it is a merge key (``<<`` copies pairs in unchecked), not
    a string, or a duplicate (PyYAML keeps the last one silently)."""
    if key_node.tag == "tag:yaml.org,2002:merge":
        raise yaml.constructor.ConstructorError(
            None, None, "merge keys (<<) are not allowed; write the keys out",
            key_node.start_mark)
    key = key_node.value if key_node.tag == _STR and isinstance(key_node, yaml.ScalarNode) \
        else construct(key_node)
    if not isinstance(key, str):
        raise yaml.constructor.ConstructorError(
            None, None, f"mapping keys must be strings, found {key!r}", key_node.start_mark)
    if key in seen:
        raise yaml.constructor.ConstructorError(
            None, None, f"duplicate key {key!r} (first defined on line {seen[key] + 1})",
            key_node.start_mark)
    seen[key] = key_node.start_mark.line
    return key


def _construct(loader: _Loader, node: yaml.Node, done: dict[int, Any]) -> Any:
    """Node tree to plain data: strings, mappings and lists directly (most of a record),
    every other scalar and any explicit tag through PyYAML's safe constructor, so the
    semantics are PyYAML's. About three times faster than ``construct_document``."""
    key = id(node)
    if key in done:                       # an alias: the same object, as PyYAML gives
        return done[key]
    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        if tag == _STR:
            return node.value
        loader.last_node = node
        return loader.construct_object(node, deep=True)
    if isinstance(node, yaml.MappingNode) and tag == _MAP:
        out: dict[str, Any] = {}
        done[key] = out
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            k = _checked_key(key_node, seen, lambda n: _construct(loader, n, done))
            out[k] = _construct(loader, value_node, done)
        return out
    if isinstance(node, yaml.SequenceNode) and tag == _SEQ:
        items: list[Any] = []
        done[key] = items
        items.extend(_construct(loader, v, done) for v in node.value)
        return items
    loader.last_node = node
    return loader.construct_object(node, deep=True)   # explicit tags: PyYAML decides


def _depth_ok(node: yaml.Node) -> bool:
    """Nesting within MAX_DEPTH, for a tree without aliases (iterative, cheap)."""
    stack = [(node, 0)]
    while stack:
        n, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        value = n.value
        if isinstance(n, yaml.MappingNode):
            for _, v in value:
                if not isinstance(v, yaml.ScalarNode):
                    stack.append((v, depth + 1))
        elif isinstance(n, yaml.SequenceNode):
            for v in value:
                if not isinstance(v, yaml.ScalarNode):
                    stack.append((v, depth + 1))
    return True


def _check_shape(node: yaml.Node, name: str) -> None:
    """Refuse recursive aliases, too many aliases, too deep nesting or too many nodes."""
    sizes: dict[int, int] = {}
    aliases = 0
    active: set[int] = set()

    def walk(n: yaml.Node, depth: int) -> int:
        nonlocal aliases
        key = id(n)
        if key in sizes:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise InputError(f"more than {MAX_ALIASES} YAML aliases", file=name,
                                 line=n.start_mark.line + 1, hint="write the values out")
            return sizes[key]
        if key in active:
            raise InputError("recursive YAML alias", file=name, line=n.start_mark.line + 1)
        if depth > MAX_DEPTH:
            raise InputError(f"nesting deeper than {MAX_DEPTH} levels", file=name,
                             line=n.start_mark.line + 1)
        active.add(key)
        total = 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += walk(k, depth + 1) + walk(v, depth + 1)
        elif isinstance(n, yaml.SequenceNode):
            for v in n.value:
                total += walk(v, depth + 1)
        active.discard(key)
        sizes[key] = total
        if total > MAX_NODES:
            raise InputError(f"document expands to more than {MAX_NODES} nodes (alias bomb?)",
                             file=name, line=n.start_mark.line + 1, hint="write the values out")
        return total

    walk(node, 0)


class _Unusual(Exception):
    """Something the fast path leaves to the full one (which decides and explains)."""


_NULL, _BOOL = "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_SAFE = yaml.constructor.SafeConstructor()
# the resolvers by first character, each list followed by the ones for any character
_WILD = list(_Loader.yaml_implicit_resolvers.get(None, ()))
_RESOLVERS = {first: [*resolvers, *_WILD]
              for first, resolvers in _Loader.yaml_implicit_resolvers.items() if first is not None}


def _plain_value(value: str) -> Any:
    """A plain scalar as PyYAML's resolver and safe constructor make it (timestamps stay
    text); a tag this path does not build (merge, value) is left to the full path."""
    resolvers = _RESOLVERS.get(value[0] if value else "", _WILD)
    if not resolvers:
        return value                  # most text: no resolver starts with its first character
    tag = next((t for t, regexp in resolvers if regexp.match(value)), None)
    if tag is None:
        return value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return _SAFE.bool_values[value.lower()]
    if tag == _INT:
        return _SAFE.construct_yaml_int(yaml.ScalarNode(tag, value))
    if tag == _FLOAT:
        return _SAFE.construct_yaml_float(yaml.ScalarNode(tag, value))
    raise _Unusual


_SCALAR, _MAP_START, _SEQ_START = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_DEPTH_FAST = MAX_DEPTH - 2      # deeper than this: the full path measures it exactly
_NO_KEY = object()


def _parse_fast(text: str) -> Any:
    """libyaml's event stream straight to plain data, for the documents registries hold: no
    anchor, alias or explicit tag, string keys written once, well within the depth limit,
    one document. Anything else raises :class:`_Unusual` and the full path (nodes, alias
    limits, the error messages) decides. About twice as fast as composing nodes."""
    loader = _BaseLoader(text)
    try:
        stack: list[Any] = []           # open containers
        keys: list[Any] = []            # per open mapping: the key awaiting its value
        root: Any = None
        documents = 0
        while True:
            ev = loader.get_event()
            kind = type(ev)
            if kind is _SCALAR:
                if ev.anchor is not None or ev.tag is not None:
                    raise _Unusual
                value: Any = _plain_value(ev.value) if ev.implicit[0] else ev.value
            elif kind is _MAP_START or kind is _SEQ_START:
                if ev.anchor is not None or ev.tag is not None or len(stack) > _DEPTH_FAST:
                    raise _Unusual
                value = {} if kind is _MAP_START else []
            elif kind in _END:
                value = stack.pop()
                if type(value) is dict:
                    keys.pop()
                if stack:
                    continue
                root = value
                continue
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Unusual
                continue
            elif kind is yaml.StreamEndEvent:
                return root
            elif kind is yaml.AliasEvent:
                raise _Unusual
            else:
                continue                 # stream start, document end
            if stack:
                parent = stack[-1]
                if type(parent) is list:
                    parent.append(value)
                elif keys[-1] is _NO_KEY:
                    if type(value) is not str or value in parent:
                        raise _Unusual   # a non-string, merge or repeated key
                    keys[-1] = value
                else:
                    parent[keys[-1]] = value
                    keys[-1] = _NO_KEY
            elif kind is _SCALAR:
                root = value
            if kind is _MAP_START:
                stack.append(value)
                keys.append(_NO_KEY)
            elif kind is _SEQ_START:
                stack.append(value)
    finally:
        loader.dispose()


def parse_yaml(text: str, name: str) -> Any:
    """Parse one YAML document from ``text``; ``name`` is used in error messages."""
    try:
        return _parse_fast(text)
    except Exception:  # noqa: BLE001 - any doubt: the full path below decides and explains
        pass
    loader = _Loader(io.StringIO(text))
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        # Aliases are written with "*": without one, the tree is as big as the text (bounded
        # by the size limit) and only its depth needs checking (keys are scalars or refused).
        if "*" in text or not _depth_ok(node):
            _check_shape(node, name)
        try:
            return _construct(loader, node, {})
        except (ValueError, KeyError, AttributeError, IndexError, TypeError,
                OverflowError) as exc:
            # a tagged value that does not convert (`!!int three`, 5,000 digits, …)
            last = getattr(loader, "last_node", None)
            line = last.start_mark.line + 1 if last is not None else None
            raise InputError(f"invalid value: {str(exc)[:200]}", file=name, line=line,
                             hint="write a plain value without a !!tag") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark is not None and (
                mark is None or mark.line >= len(text.splitlines())):
            mark = exc.context_mark       # "end of stream": point where the scalar began
        line = mark.line + 1 if mark else None
        msg = exc.problem or str(exc)
        if exc.context and "duplicate" not in msg:
            msg = f"{exc.context}, {msg}"
        raise InputError(f"invalid YAML: {msg}", file=name, line=line,
                         hint="fix the YAML syntax at that line") from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=name) from None
    except RecursionError:
        raise InputError(f"nesting deeper than {MAX_DEPTH} levels", file=name) from None
    finally:
        loader.dispose()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _json_depth_ok(data: Any) -> bool:
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return True


def parse_json(text: str, name: str) -> Any:
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", file=name, line=exc.lineno,
                         hint="fix the JSON syntax at that line") from None
    except ValueError as exc:
        raise InputError(f"invalid JSON: {exc}", file=name) from None
    except RecursionError:
        raise InputError(f"nesting deeper than {MAX_DEPTH} levels", file=name) from None
    if not _json_depth_ok(data):
        raise InputError(f"nesting deeper than {MAX_DEPTH} levels", file=name)
    return data


def load(path: str | os.PathLike, *, display: str | None = None,
         max_bytes: int = MAX_BYTES) -> Document:
    """Load a YAML or JSON file (by extension) into a :class:`Document`."""
    name = display or str(path)
    text = read_text(path, display=name, max_bytes=max_bytes)
    return Document(name, text, parse_text(text, name))


def parse_text(text: str, name: str) -> Any:
    if name.endswith(".json"):
        return parse_json(text, name)
    return parse_yaml(text, name)


def locate(doc: Document, json_path: list[str | int] | tuple) -> int | None:
    """Line (1-based) of the value at ``json_path`` in ``doc``, or of its closest parent."""
    if doc.path.endswith(".json"):
        return None
    try:
        node = _Loader(io.StringIO(doc.text)).get_single_node()
    except yaml.YAMLError:
        return None
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in json_path:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == part:
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
