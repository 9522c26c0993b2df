"""Weights scanning: does a weights file carry code that runs when it is loaded?

A pickle is a program: loading it calls whatever functions it names. This module reads that
program without running it (``pickletools.genops`` disassembles; nothing is unpickled) and
judges every function or class the pickle names against ``ALLOWED_GLOBALS``, the short list
of constructors numpy, scikit-learn and torch need to rebuild arrays, estimators and state
dicts. Anything else is a finding, however it is reached.

Why an allow-list: a deny-list of dangerous functions (picklescan's) can never be complete.
Python re-exports freely, so ``os.system`` is also reachable under other modules' names
(``glob.os.system``, ``tempfile._os.system``, any module that imports ``os``), and new
modules appear with every release. An allow-list fails closed: a global nobody vouched for
refuses the file, naming the global, and the fix is a reviewed line in ``ALLOWED_GLOBALS``.

What counts as a pickle: a pickle-family extension (``.pkl .pickle .joblib .pt .pth .bin``),
or bytes that disassemble as a pickle, whatever the name (protocol 0 pickles start with any
opcode, not 0x80), or the data of a numpy object array. Compressed files (gzip, bz2, xz,
zlib), zip and tar archives of any name are opened, streamed through a bound on the bytes
they expand to (``MAX_UNPACKED``, ``MAX_RATIO``: against decompression bombs) and their
members judged, nested up to ``MAX_DEPTH`` levels; zstd and lz4 cannot be opened here and
are refused with that reason. A part that cannot be read is "error", never "clean"; a pickle
under a safe format's name (``.safetensors``) is a finding. joblib writes raw numpy buffers
inside its pickle stream; a disassembler alone stops there (picklescan does, and so misses a
payload placed after them), so the stack is followed far enough to read each array's size
and step over its bytes as joblib's loader does. An array it cannot size is an error. (The
policy still blocks joblib files, ART-02: docs/policies.md.)

safetensors files get their header checked in full (the tensors must tile the data region
exactly). skops files are asked for untrusted types when skops is installed. The result is a
scan record for the version file: ``{tool, tool_version, status, findings, at}``
(schemas/version.schema.json).
"""
from __future__ import annotations

import ast
import bz2
import contextlib
import dataclasses
import gzip
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import lzma
import os
import pickletools
import re
import shutil
import struct
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from modelreg.core import timefmt

PICKLE_EXTENSIONS = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin")
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024     # safetensors' own limit on the JSON header
MAX_UNPACKED = 8 * 1024 ** 3    # bytes read out of one file's archives and compressed streams,
MAX_RATIO = 200                 # and at most this many times the file's size
MIN_UNPACKED = 256 * 1024 ** 2  # (but always this much: small files compress well)
MAX_DEPTH = 4                   # archives inside archives
MAX_MEMBERS = 100_000           # members of one zip or tar archive
SNIFF_BYTES = 64 * 1024         # how much of a file decides "these bytes are a pickle"
# Names a safe format; pickle bytes under such a name are a disguise, refused as such.
SAFE_FORMAT_SUFFIXES = (".safetensors", ".onnx", ".gguf")
TOOL = "modelreg-pickle-allowlist"

_SKLEARN = {
    # Common estimators and transformers, and the classes their fitted state holds.
    # Listed one by one: sklearn also ships test utilities and callables that must not be
    # reachable from a model file, so "any sklearn class" would be too wide.
    "sklearn.linear_model._logistic": ("LogisticRegression", "LogisticRegressionCV"),
    "sklearn.linear_model._base": ("LinearRegression",),
    "sklearn.linear_model._ridge": ("Ridge", "RidgeClassifier", "RidgeCV"),
    "sklearn.linear_model._coordinate_descent": ("Lasso", "ElasticNet", "LassoCV",
                                                 "ElasticNetCV"),
    "sklearn.linear_model._stochastic_gradient": ("SGDClassifier", "SGDRegressor"),
    "sklearn.linear_model._perceptron": ("Perceptron",),
    "sklearn.tree._classes": ("DecisionTreeClassifier", "DecisionTreeRegressor",
                              "ExtraTreeClassifier", "ExtraTreeRegressor"),
    "sklearn.tree._tree": ("Tree",),
    "sklearn.ensemble._forest": ("RandomForestClassifier", "RandomForestRegressor",
                                 "ExtraTreesClassifier", "ExtraTreesRegressor"),
    "sklearn.ensemble._gb": ("GradientBoostingClassifier", "GradientBoostingRegressor"),
    "sklearn.ensemble._weight_boosting": ("AdaBoostClassifier", "AdaBoostRegressor"),
    "sklearn.dummy": ("DummyClassifier", "DummyRegressor"),
    "sklearn._loss.loss": ("HalfBinomialLoss", "HalfMultinomialLoss", "HalfSquaredError",
                           "AbsoluteError", "PinballLoss", "HuberLoss", "ExponentialLoss"),
    "sklearn._loss.link": ("IdentityLink", "LogitLink", "MultinomialLogit", "Interval"),
    "sklearn._loss._loss": ("CyHalfBinomialLoss", "CyHalfMultinomialLoss", "CyHalfSquaredError",
                            "CyAbsoluteError", "CyPinballLoss", "CyHuberLoss",
                            "CyExponentialLoss", "__pyx_unpickle_CyHalfMultinomialLoss"),
    "sklearn.svm._classes": ("SVC", "SVR", "LinearSVC", "LinearSVR", "NuSVC", "NuSVR"),
    "sklearn.neighbors._classification": ("KNeighborsClassifier",),
    "sklearn.neighbors._regression": ("KNeighborsRegressor",),
    "sklearn.neighbors._kd_tree": ("KDTree", "newObj"),
    "sklearn.neighbors._ball_tree": ("BallTree", "newObj"),
    "sklearn.naive_bayes": ("GaussianNB", "MultinomialNB", "BernoulliNB", "ComplementNB"),
    "sklearn.preprocessing._data": ("StandardScaler", "MinMaxScaler", "MaxAbsScaler",
                                    "RobustScaler", "Normalizer"),
    "sklearn.preprocessing._encoders": ("OneHotEncoder", "OrdinalEncoder"),
    "sklearn.preprocessing._label": ("LabelEncoder", "LabelBinarizer"),
    "sklearn.impute._base": ("SimpleImputer",),
    "sklearn.decomposition._pca": ("PCA",),
    "sklearn.decomposition._truncated_svd": ("TruncatedSVD",),
    "sklearn.cluster._kmeans": ("KMeans", "MiniBatchKMeans"),
    "sklearn.pipeline": ("Pipeline", "FeatureUnion"),
    "sklearn.compose._column_transformer": ("ColumnTransformer",),
    "sklearn.feature_extraction.text": ("CountVectorizer", "TfidfVectorizer",
                                        "TfidfTransformer"),
}
_TORCH_STORAGES = tuple(f"{t}Storage" for t in (
    "Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool",
    "ComplexFloat", "ComplexDouble", "QInt8", "QUInt8", "QInt32", "Untyped"))
_TORCH_DTYPES = ("float16", "float32", "float64", "bfloat16", "int8", "int16", "int32",
                 "int64", "uint8", "bool", "complex64", "complex128")
_BUILTINS = ("set", "frozenset", "bytearray", "bytes", "complex", "slice", "range", "object",
             "int", "float", "bool", "str", "list", "dict", "tuple")
_ALLOWED: dict[str, tuple[str, ...]] = {
    # values and containers pickle rebuilds by name; protocols 0-2 spell builtins
    # `__builtin__` and copyreg `copy_reg` (the unpickler maps them to the Python 3 modules)
    "builtins": _BUILTINS,
    "__builtin__": _BUILTINS,
    "copyreg": ("_reconstructor",),     # cls.__new__ + base.__init__, both globals judged here
    "copy_reg": ("_reconstructor",),
    "_codecs": ("encode",),             # bytes in protocols 0-2: encode(text, "latin1")
    "collections": ("OrderedDict", "defaultdict", "deque", "Counter"),
    "datetime": ("date", "datetime", "time", "timedelta", "timezone"),
    "decimal": ("Decimal",),
    # numpy arrays, dtypes, scalars and random states (numpy 1.x module names and 2.x's)
    "numpy": ("ndarray", "dtype"),
    "numpy._core.multiarray": ("_reconstruct", "scalar"),
    "numpy.core.multiarray": ("_reconstruct", "scalar"),
    "numpy._core.numeric": ("_frombuffer",),
    "numpy.core.numeric": ("_frombuffer",),
    "numpy.random._pickle": ("__randomstate_ctor", "__generator_ctor", "__bit_generator_ctor"),
    "numpy.random._mt19937": ("MT19937",),
    "numpy.random._pcg64": ("PCG64", "PCG64DXSM"),
    "numpy.random._philox": ("Philox",),
    "numpy.random._sfc64": ("SFC64",),
    "numpy.random.bit_generator": ("SeedSequence", "__pyx_unpickle_SeedSequence"),
    # joblib marks where it wrote an array's raw bytes into the stream (stepped over, see
    # _joblib_arrays). Never NDArrayWrapper, joblib's old format: it loads another file,
    # named in the pickle, with allow_pickle.
    "joblib.numpy_pickle": ("NumpyArrayWrapper",),
    # torch state dicts: tensors rebuilt from storages the loader reads from the archive
    # (never torch.storage._load_from_bytes: that calls torch.load on nested bytes)
    "torch._utils": ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter",
                     "_rebuild_parameter_with_state"),
    "torch._tensor": ("_rebuild_from_type_v2",),
    "torch": (*_TORCH_STORAGES, *_TORCH_DTYPES, "Size", "Tensor"),
    **_SKLEARN,
}
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    (module, name) for module, names in _ALLOWED.items() for name in names)
"""(module, name) pairs a pickle may name. Compared exactly: protocol 4 resolves dotted
names attribute by attribute (``numpy.ndarray.__class__…``), so no prefix or pattern."""


@dataclass(frozen=True)
class ScanRecord:
    """The verdict on one file, as stored in ``artifacts[].scan``."""

    tool: str
    tool_version: str
    status: str                        # clean | findings | error | not-applicable
    findings: tuple[str, ...] = ()
    at: str = ""
    dangerous: tuple[str, ...] = field(default=(), compare=False)   # "module.name" globals

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "tool_version": self.tool_version, "status": self.status,
                "findings": list(self.findings), "at": self.at}


def _now() -> str:
    return timefmt.rfc3339()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def tool_version() -> str:
    """modelreg's version and a digest of the allow-list: a record names the list that
    cleared the file."""
    digest = hashlib.sha256("\n".join(sorted(f"{m} {n}" for m, n in ALLOWED_GLOBALS))
                            .encode()).hexdigest()[:12]
    return f"{_version('modelreg')}+allowlist.{digest}"


def looks_like_pickle(head: bytes) -> bool:
    """A protocol 2+ pickle starts with PROTO (0x80) and its protocol number."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


# --- the pickle disassembly ------------------------------------------------------------------
_STRING_OPS = frozenset({"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE",
                         "SHORT_BINUNICODE", "BINUNICODE8"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_NEUTRAL_OPS = frozenset({"PROTO", "FRAME"})       # leave the stack as it is
_UNKNOWN = object()


class _TooBig(Exception):
    pass


class _Counted(io.RawIOBase):
    """A reader of an archive member or a decompressed stream: it keeps its position (the
    disassembler reports offsets) and stops once the file's parts have expanded past the
    bound, whatever sizes their headers claim."""

    def __init__(self, inner: IO[bytes], walk: _Walk, owned: IO[bytes] | None = None) -> None:
        self.inner, self.walk, self.owned, self.pos = inner, walk, owned, 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer) -> int:
        data = self.inner.read(len(buffer))
        self.pos += len(data)
        self.walk.unpacked += len(data)
        if self.walk.unpacked > self.walk.limit:
            raise _TooBig
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.inner.close()
            if self.owned is not None:
                self.owned.close()
        super().close()


def _dotted(name: object) -> bool:
    return isinstance(name, str) and all(p.isidentifier() for p in name.split("."))


@dataclass
class _Walk:
    """What one file holds, collected while its parts are opened."""

    limit: int
    unpacked: int = 0
    pickles: int = 0
    findings: list[str] = field(default_factory=list)
    dangerous: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def refuse(self, where: str, what: str, message: str) -> None:
        self.dangerous.add(what)
        self.findings.append(f"{where}: {message}")


def _ops(stream: IO[bytes]) -> Iterator[tuple[str, Any, int]]:
    for op, arg, pos in pickletools.genops(stream):
        yield op.name, arg, pos


def _globals(ops: Iterator[tuple[str, Any, int]]) -> Iterator[tuple[str, object, object, int]]:
    """(opcode, module, name, position) of every global one pickle names, up to its STOP.
    STACK_GLOBAL takes its module and name from the stack: they are resolved from the
    string pushes (and memo reads of them) right before it; anything else is _UNKNOWN."""
    memo: dict[int, object] = {}
    pushed: list[object] = []          # values on top of the stack, as far as known
    for name, arg, pos in ops:
        if name in _STRING_OPS:
            pushed.append(arg if isinstance(arg, str) else _UNKNOWN)
        elif name in _GET_OPS:
            pushed.append(memo.get(arg, _UNKNOWN))
        elif name in _PUT_OPS or name == "MEMOIZE":
            memo[arg if name in _PUT_OPS else len(memo)] = pushed[-1] if pushed else _UNKNOWN
        elif name in _NEUTRAL_OPS:
            pass
        else:
            if name in ("GLOBAL", "INST"):
                module, _, attr = arg.partition(" ")
                yield name, module, attr, pos
            elif name == "STACK_GLOBAL":
                module, attr = (pushed[-2], pushed[-1]) if len(pushed) >= 2 else (_UNKNOWN,) * 2
                yield name, module, attr, pos
            elif name in ("EXT1", "EXT2", "EXT4"):
                yield name, _UNKNOWN, f"extension {arg}", pos
            pushed = []
            if name == "STOP":
                return


def _judge_pickles(reader: IO[bytes], where: str, walk: _Walk) -> None:
    """Every pickle in the stream, one after another (torch's legacy format stores several):
    each global must be allowed. joblib's raw array bytes are stepped over (``_Machine``).
    Bytes that do not disassemble are an error: what cannot be read cannot be cleared."""

    def judge(ops: Iterator[tuple[str, Any, int]], follow: _Follow | None = None) -> None:
        for op, module, name, pos in _globals(ops):
            if follow is not None and _Global(module, name) == _WRAPPER:
                follow.wrappers = True
                if follow.lost:
                    raise ValueError("joblib arrays in a pickle whose stack cannot be followed")
            if not (_dotted(module) and _dotted(name)):
                walk.refuse(where, f"<{op} at byte {pos}>", f"{op} at byte {pos} names a "
                            "global that cannot be resolved without running the pickle")
            elif (module, name) not in ALLOWED_GLOBALS:
                walk.refuse(where, f"{module}.{name}", f"global {module}.{name} is not on "
                            "the allow-list of pickle globals")

    def nested() -> None:               # a pickle inside the pickle (joblib object arrays)
        judge(_ops(reader))

    def hidden(pos: int) -> None:
        walk.refuse(where, f"<pickle program in array data at byte {pos}>",
                    f"the array data at byte {pos} is also a pickle program, which a plain "
                    "pickle loader would run")

    while reader.peek(1)[:1]:
        start = reader.tell()
        try:
            follow = _Follow()
            judge(_joblib_arrays(_ops(reader), reader, nested, hidden, follow), follow)
        except _TooBig:
            raise
        except Exception as exc:       # any failure to disassemble is a failure to clear
            walk.errors.append(f"{where}: the pickle starting at byte {start} cannot be "
                               f"disassembled: {type(exc).__name__}: {exc}"[:300])
            return
        walk.pickles += 1


# --- joblib's arrays -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Global:
    module: object
    name: object


@dataclass(eq=False)
class _Obj:
    func: object
    args: object
    state: object = None


_WRAPPER = _Global("joblib.numpy_pickle", "NumpyArrayWrapper")
_NUMPY_DTYPE = _Global("numpy", "dtype")
_PUSH_ARG = frozenset({*_STRING_OPS, "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
                       "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT",
                       "BINFLOAT"})
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_TUPLE": ()}
_OPAQUE = frozenset({"PERSID", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER"})


class _Machine:
    """The unpickler's stack and memo, with values as plain data (globals and calls are
    recorded, never resolved or made): enough to read the state of joblib's array wrapper,
    which says how many raw bytes follow it. Nothing here runs or imports anything."""

    def __init__(self) -> None:
        self.stack: list[object] = []
        self.marks: list[int] = []
        self.memo: dict[int, object] = {}

    def _to_mark(self) -> list[object]:
        at = self.marks.pop()
        items = self.stack[at:]
        del self.stack[at:]
        return items

    def step(self, name: str, arg: Any) -> _Obj | None:
        """Apply one opcode; a NumpyArrayWrapper just built is returned."""
        s = self.stack
        if name in _PUSH_ARG:
            s.append(arg)
        elif name in _CONSTANTS:
            s.append(_CONSTANTS[name])
        elif name in ("PROTO", "FRAME", "STOP", "READONLY_BUFFER"):
            pass
        elif name == "MARK":
            self.marks.append(len(s))
        elif name in _PUT_OPS or name == "MEMOIZE":
            self.memo[arg if name in _PUT_OPS else len(self.memo)] = s[-1]
        elif name in _GET_OPS:
            s.append(self.memo[arg])
        elif name == "POP":
            if self.marks and self.marks[-1] == len(s):
                self.marks.pop()
            else:
                s.pop()
        elif name == "POP_MARK":
            self._to_mark()
        elif name == "DUP":
            s.append(s[-1])
        elif name == "TUPLE":
            s.append(tuple(self._to_mark()))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = tuple(s[-n:])
            del s[-n:]
            s.append(items)
        elif name in ("EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"):  # set: of ids, unhashables too
            s.append({"EMPTY_LIST": [], "EMPTY_DICT": {}, "EMPTY_SET": set()}[name])
        elif name == "LIST":
            s.append(self._to_mark())
        elif name == "DICT":
            items = self._to_mark()
            s.append(dict(zip(items[::2], items[1::2], strict=True)))
        elif name == "FROZENSET":
            s.append(frozenset(map(id, self._to_mark())))
        elif name in ("APPEND", "APPENDS", "ADDITEMS", "SETITEM", "SETITEMS"):
            items = [s.pop()] if name == "APPEND" else (
                [s.pop(), s.pop()][::-1] if name == "SETITEM" else self._to_mark())
            target = s[-1]
            if isinstance(target, list):
                target.extend(items)
            elif isinstance(target, dict) and name in ("SETITEM", "SETITEMS"):
                target.update(zip(items[::2], items[1::2], strict=True))
            elif isinstance(target, set):
                target.update(map(id, items))
            elif not isinstance(target, _Obj):       # the loader would fail here too
                raise TypeError(f"{name} on {type(target).__name__}")
        elif name == "GLOBAL":
            module, _, attr = arg.partition(" ")
            s.append(_Global(module, attr))
        elif name == "STACK_GLOBAL":
            attr, module = s.pop(), s.pop()
            s.append(_Global(module, attr))
        elif name == "INST":
            module, _, attr = arg.partition(" ")
            s.append(_Obj(_Global(module, attr), tuple(self._to_mark())))
        elif name == "OBJ":
            items = self._to_mark()
            s.append(_Obj(items[0], tuple(items[1:])))
        elif name in ("REDUCE", "NEWOBJ"):
            args, func = s.pop(), s.pop()
            s.append(_Obj(func, args))
        elif name == "NEWOBJ_EX":
            _, args, func = s.pop(), s.pop(), s.pop()
            s.append(_Obj(func, args))
        elif name == "BINPERSID":
            s[-1] = _Obj(None, s[-1])
        elif name in _OPAQUE:
            s.append(_Obj(None, arg))
        elif name == "BUILD":
            state = s.pop()
            if not isinstance(s[-1], _Obj):
                raise ValueError("BUILD on a plain value")
            s[-1].state = state
            if s[-1].func == _WRAPPER:
                return s[-1]
        else:
            raise ValueError(f"opcode {name} is not modelled")
        return None


_RAW_DTYPE = re.compile(r"([fiucbVSMm])([0-9]{1,6})|(U)([0-9]{1,6})")


def _array_bytes(wrapper: _Obj) -> tuple[bool, int] | None:
    """(padded, byte count) of the raw array after a NumpyArrayWrapper, or None when its
    data is a nested pickle (an object array). A wrapper this cannot read is an error."""
    state = wrapper.state
    if not isinstance(state, dict):
        raise ValueError("an array wrapper without its state")
    shape, dtype = state.get("shape"), state.get("dtype")
    if not (isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape)):
        raise ValueError("an array wrapper with an unreadable shape")
    if not (isinstance(dtype, _Obj) and dtype.func == _NUMPY_DTYPE
            and isinstance(dtype.args, tuple) and dtype.args and isinstance(dtype.args[0], str)):
        raise ValueError("an array wrapper with an unreadable dtype")
    # a structured or subarray dtype names its parts' dtypes in its state; any object part
    # makes joblib pickle the array instead (a nested pickle)
    if any(isinstance(d.args, tuple) and d.args and str(d.args[0]).startswith("O")
           for d in _dtypes(dtype)):
        return None
    detail = dtype.state if isinstance(dtype.state, tuple) else ()
    if any(part is not None for part in detail[2:4]) and not dtype.args[0].startswith("V"):
        raise ValueError("a structured array wrapper without its size")
    m = _RAW_DTYPE.fullmatch(dtype.args[0])
    if not m:
        raise ValueError(f"an array wrapper with dtype {dtype.args[0][:20]!r}")
    itemsize = int(m.group(2)) if m.group(1) else 4 * int(m.group(4))
    count = 1
    for d in shape:
        count *= d
    return state.get("numpy_array_alignment_bytes") is not None, count * itemsize


def _dtypes(value: object) -> Iterator[_Obj]:
    """Every numpy.dtype call in a value, the value itself included."""
    if isinstance(value, _Obj):
        if value.func == _NUMPY_DTYPE:
            yield value
            yield from _dtypes(value.state)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _dtypes(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _dtypes(item)


def _skip(reader: IO[bytes], n: int) -> None:
    while n > 0:
        chunk = reader.read(min(n, 1024 * 1024))
        if not chunk:
            raise EOFError("the file ends inside an array")
        n -= len(chunk)


@dataclass
class _Follow:
    wrappers: bool = False     # the pickle names joblib's array wrapper
    lost: bool = False         # the stack model could not follow the pickle


def _joblib_arrays(ops: Iterator[tuple[str, Any, int]], reader: IO[bytes],
                   nested: Callable[[], None], hidden: Callable[[int], None],
                   follow: _Follow) -> Iterator[tuple[str, Any, int]]:
    """The opcodes of one pickle, stepping over the array bytes joblib writes after each
    NumpyArrayWrapper, exactly as joblib's loader reads them. Raw bytes read as opcodes
    could swallow what follows them, so a pickle with wrappers whose stack cannot be
    followed is an error, not a guess; and array bytes that are themselves a pickle program
    (run by a plain ``pickle.load`` of the file) are a finding."""
    machine = _Machine()
    for item in ops:
        yield item
        if follow.lost:
            continue
        try:
            wrapper = machine.step(item[0], item[1])
        except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
            follow.lost = True
            if follow.wrappers:
                raise ValueError("joblib arrays in a pickle whose stack cannot be followed: "
                                 f"{exc}") from exc
            continue
        if wrapper is not None:
            layout = _array_bytes(wrapper)
            if layout is None:
                nested()
            else:
                padded, size = layout
                if padded:              # the padding length byte is no opcode
                    pad = reader.read(1)
                    if not pad:
                        raise EOFError("the file ends inside an array")
                    _skip(reader, pad[0])
                else:                   # pickle.load would read the array bytes as opcodes
                    start = reader.tell()
                    head = reader.read(min(size, SNIFF_BYTES))
                    if _sniff_pickle(head, loose=False):
                        hidden(start)
                    size -= len(head)
                _skip(reader, size)


_CALL_OPS = frozenset({"REDUCE", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD"})


def _sniff_pickle(head: bytes, loose: bool = True) -> bool:
    """Do these bytes start a pickle? They do if they are a well-formed pickle
    (``pickletools.dis`` checks the stack and the marks up to STOP); if they name a global
    the way a loader would import it, or name any global and then call (code runs at
    REDUCE, before a missing STOP is noticed). ``loose`` adds: if they start with PROTO, or
    go on and on (64 opcodes) to the end of the sample."""
    if loose and looks_like_pickle(head):
        return True
    try:
        pickletools.dis(io.BytesIO(head), out=io.StringIO())
        return True
    except Exception:
        pass
    ops, named = 0, False
    try:
        for name, arg, _ in _ops(io.BytesIO(head)):
            ops += 1
            if name == "INST" or (named and name in _CALL_OPS):
                return True
            if name == "GLOBAL" and all(_dotted(part) for part in arg.split(" ", 1)):
                return True
            # STACK_GLOBAL needs two items below it (numpy's .npy files start with 0x93)
            named = named or name in ("GLOBAL", "EXT1", "EXT2", "EXT4") or (
                name == "STACK_GLOBAL" and ops > 2)
    except Exception:
        return loose and ops >= 64 and len(head) == SNIFF_BYTES
    return False


# --- containers ------------------------------------------------------------------------------
def _container(head: bytes) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        try:
            zlib.decompressobj().decompress(head[:4096], 1)
            return "zlib"                    # joblib's compress=("zlib", n)
        except zlib.error:
            return None
    return None


class _Zlib(io.RawIOBase):
    """A bare zlib stream (joblib's ``compress=("zlib", n)``), decompressed as it is read."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner, self.z, self.pending = inner, zlib.decompressobj(), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            if self.z.eof:
                return 0
            data = self.z.unconsumed_tail or self.inner.read(64 * 1024)
            if not data:
                raise EOFError("the zlib stream ends early")
            self.pending = self.z.decompress(data, 1024 * 1024)
        n = min(len(buffer), len(self.pending))
        buffer[:n], self.pending = self.pending[:n], self.pending[n:]
        return n


_ARCHIVES = ("gzip", "bz2", "xz", "zlib", "zstd", "lz4", "tar", "zip")
_DECOMPRESS: dict[str, Callable[[IO[bytes]], IO[bytes]]] = {
    "gzip": lambda f: gzip.GzipFile(fileobj=f, mode="rb"),
    "bz2": lambda f: bz2.BZ2File(f, mode="rb"),
    "xz": lambda f: lzma.LZMAFile(f, mode="rb"),
    "zlib": _Zlib,
}


def _judge(opener: Callable[[], IO[bytes]], where: str, walk: _Walk, depth: int,
           pickle_name: bool, path: Path | None = None) -> None:
    """Judge one part (a file, an archive member, a decompressed stream); ``opener`` gives
    a fresh stream of it each time it is called."""
    with opener() as fh:
        head = fh.read(SNIFF_BYTES)
    kind = _container(head)
    # a zip is found by its end (its central directory), so one can hide behind other bytes
    is_zip = kind == "zip" or (path is not None and path.is_file() and zipfile.is_zipfile(path))
    if (kind in _ARCHIVES or is_zip) and depth >= MAX_DEPTH:
        walk.errors.append(f"{where}: archives nested more than {MAX_DEPTH} deep")
        return
    if kind in ("zstd", "lz4"):
        walk.errors.append(f"{where}: {kind}-compressed, which this scanner cannot open: "
                           "decompress it and scan the result")
    elif kind in _DECOMPRESS:
        decompress, inner = _DECOMPRESS[kind], f"{where}[{kind}]"

        def unpacked() -> IO[bytes]:
            outer = opener()
            return io.BufferedReader(_Counted(decompress(outer), walk, outer))
        try:
            _judge(unpacked, inner, walk, depth + 1, pickle_name)
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
            walk.errors.append(f"{inner}: cannot be decompressed: {exc}"[:300])
    elif kind == "tar":
        _judge_tar(opener, where, walk, depth, path)
    elif kind == "npy":
        _judge_npy(opener, head, where, walk)
    elif kind is None and (pickle_name or _sniff_pickle(head)):
        with opener() as fh:
            _judge_pickles(fh, where, walk)
    if is_zip:
        _judge_zip(opener, where, walk, depth, path)


@contextlib.contextmanager
def _seekable(opener: Callable[[], IO[bytes]], path: Path | None) -> Iterator[IO[bytes]]:
    """The part as a seekable file: the file itself, or a member or stream copied to a
    temporary file (through the bound)."""
    if path is not None:
        with open(path, "rb") as fh:
            yield fh
        return
    with tempfile.TemporaryFile(prefix="modelreg-scan-") as spool:
        with opener() as fh:
            shutil.copyfileobj(fh, spool)
        spool.seek(0)
        yield spool


_ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, OSError,
                   EOFError, ValueError, NotImplementedError, RuntimeError, zlib.error,
                   lzma.LZMAError)


def _judge_zip(opener: Callable[[], IO[bytes]], where: str, walk: _Walk, depth: int,
               path: Path | None) -> None:
    """Every member of a zip archive."""
    try:
        with _seekable(opener, path) as source, zipfile.ZipFile(source) as zf:
            members = zf.infolist()
            if len(members) > MAX_MEMBERS:
                walk.errors.append(f"{where}: more than {MAX_MEMBERS} members")
                return
            for info in members:
                name = f"{where}:{info.filename}"
                if info.is_dir():
                    continue
                if info.flag_bits & 0x1:
                    walk.errors.append(f"{name}: encrypted, cannot be read")
                    continue
                _judge(lambda info=info: io.BufferedReader(_Counted(zf.open(info), walk)),
                       name, walk, depth + 1, info.filename.lower().endswith(PICKLE_EXTENSIONS))
    except _ARCHIVE_ERRORS as exc:
        walk.errors.append(f"{where}: the zip archive cannot be read: "
                           f"{type(exc).__name__}: {exc}"[:300])


def _judge_tar(opener: Callable[[], IO[bytes]], where: str, walk: _Walk, depth: int,
               path: Path | None) -> None:
    """Every regular file in a tar archive (torch's legacy format is one: it unpickles
    the member named ``pickle``)."""
    try:
        with _seekable(opener, path) as source, tarfile.open(fileobj=source, mode="r:") as tf:
            for count, info in enumerate(tf):
                if count >= MAX_MEMBERS:
                    walk.errors.append(f"{where}: more than {MAX_MEMBERS} members")
                    return
                if not info.isfile():
                    continue
                _judge(lambda info=info: io.BufferedReader(_Counted(tf.extractfile(info), walk)),
                       f"{where}:{info.name}", walk, depth + 1,
                       info.name.lower().endswith(PICKLE_EXTENSIONS))
    except _ARCHIVE_ERRORS as exc:
        walk.errors.append(f"{where}: the tar archive cannot be read: "
                           f"{type(exc).__name__}: {exc}"[:300])


def _judge_npy(opener: Callable[[], IO[bytes]], head: bytes, where: str, walk: _Walk) -> None:
    """A numpy array file: its data is a pickle when the dtype holds Python objects
    (``np.load(..., allow_pickle=True)`` unpickles it)."""
    major = head[6] if len(head) > 6 else 0
    width = 2 if major == 1 else 4
    start = 8 + width
    if len(head) < start or major not in (1, 2, 3):
        walk.errors.append(f"{where}: a damaged numpy array file")
        return
    size = int.from_bytes(head[8:start], "little")
    try:
        header = ast.literal_eval(head[start:start + size].decode(
            "utf-8" if major == 3 else "latin1"))
        holds_objects = _holds_objects(header["descr"])
    except Exception as exc:           # a header numpy could not read either
        walk.errors.append(f"{where}: the numpy array header cannot be read: "
                           f"{type(exc).__name__}: {exc}"[:300])
        return
    if holds_objects:
        with opener() as fh:
            fh.read(start + size)
            _judge_pickles(fh, where, walk)


def _holds_objects(descr: object) -> bool:
    """Does a numpy dtype description name the object type anywhere (``|O``, or a field
    of a structured dtype)? Read without numpy: any ``O`` type code counts."""
    if isinstance(descr, str):
        return descr.lstrip("<>|=")[:1] == "O"
    if isinstance(descr, list):         # fields: (name, dtype) or (name, dtype, shape)
        return any(not (isinstance(f, tuple) and len(f) >= 2) or _holds_objects(f[1])
                   for f in descr)
    return True                         # something numpy does not write: assume the worst


def _walk(path: Path, display: str, limit: int) -> _Walk:
    if path.is_file():
        limit = min(limit, max(MIN_UNPACKED, MAX_RATIO * path.stat().st_size))
    walk = _Walk(limit)
    try:
        _judge(lambda: open(path, "rb"), display, walk, 0,
               path.suffix.lower() in PICKLE_EXTENSIONS, path)
    except _TooBig:
        walk.errors.append(f"{display}: expands to more than {limit} bytes when decompressed "
                           "(a decompression bomb, or too large to scan)")
    return walk


def is_pickle_family(path: str | os.PathLike) -> bool:
    """Pickle-family by extension, by content (a pickle under any name), or an archive or
    compressed file that holds a pickle."""
    p = Path(path)
    return p.suffix.lower() in PICKLE_EXTENSIONS or _walk(p, p.name, MAX_UNPACKED).pickles > 0


def scan_pickle(path: str | os.PathLike, display: str | None = None, *,
                max_unpacked: int = MAX_UNPACKED) -> ScanRecord:
    """Judge every pickle the file holds (itself, in archives, compressed) against the
    allow-list. Nothing is unpickled."""
    p = Path(path)
    walk = _walk(p, display or p.name, max_unpacked)
    return _record(walk, p)


def _record(walk: _Walk, p: Path) -> ScanRecord:
    version, stamp = tool_version(), _now()
    if walk.findings:
        return ScanRecord(TOOL, version, "findings", tuple(walk.findings), stamp,
                          tuple(sorted(walk.dangerous)))
    if walk.errors:
        return ScanRecord(TOOL, version, "error", tuple(walk.errors), stamp)
    if walk.pickles == 0:
        return ScanRecord(TOOL, version, "error", (f"{p.name}: no pickle was found to scan",),
                          stamp)
    return ScanRecord(TOOL, version, "clean", (), stamp)


# --- safetensors -----------------------------------------------------------------------------
_DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
               "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
               "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
               "I64": 64, "U64": 64, "F64": 64, "C64": 64}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key appears twice in the header")
    return out


def _safetensors_problem(p: Path) -> str | None:
    """Why this is not a well-formed safetensors file, or None. The header is an 8-byte
    little-endian length, then a JSON object; the tensors' byte ranges, sorted, must tile
    the data region exactly (no gap, no overlap, nothing after) and match dtype × shape."""
    size = p.stat().st_size
    with open(p, "rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            return "shorter than the 8-byte header length"
        (n,) = struct.unpack("<Q", raw)
        if n > MAX_SAFETENSORS_HEADER or n > size - 8:
            return f"header length {n} exceeds the file"
        text = fh.read(n)
    if not text.startswith(b"{"):
        return "the header is not a JSON object"
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return f"the header is not JSON: {exc}"[:200]
    if not isinstance(header, dict):
        return "the header is not a JSON object"
    ranges = []
    for key, entry in header.items():
        if key == "__metadata__":
            if not (isinstance(entry, dict) and all(isinstance(v, str) for v in entry.values())):
                return "__metadata__ is not a map of strings"
            continue
        label = f"tensor {key[:60]!r}"
        if not (isinstance(entry, dict) and set(entry) == {"dtype", "shape", "data_offsets"}):
            return f"{label} needs exactly dtype, shape and data_offsets"
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _DTYPE_BITS:
            return f"{label} has unknown dtype {str(dtype)[:20]!r}"
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            return f"{label} has an invalid shape"
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]):
            return f"{label} has invalid data_offsets"
        count = 1
        for d in shape:
            count *= d
        bits = count * _DTYPE_BITS[dtype]
        if bits % 8 or bits // 8 != offsets[1] - offsets[0]:
            return f"{label}: {dtype} × {shape} does not fill bytes {offsets[0]}..{offsets[1]}"
        ranges.append((offsets[0], offsets[1], label))
    end = 0
    for begin, stop, label in sorted(ranges):
        if begin != end:
            return (f"{label} starts at byte {begin} of the data, not at {end}: "
                    f"{'a gap' if begin > end else 'an overlap'}")
        end = stop
    if end != size - 8 - n:
        return f"the tensors cover {end} bytes of data but the file holds {size - 8 - n}"
    return None


def check_safetensors(path: str | os.PathLike) -> ScanRecord:
    """Header check: no code can run from a well-formed safetensors file; anything else
    under that name is refused ("error": not a safetensors file)."""
    problem = _safetensors_problem(Path(path))
    tool, version = "safetensors-header", _version("modelreg")
    if problem:
        return ScanRecord(tool, version, "error", (f"not a safetensors file: {problem}",),
                          _now())
    return ScanRecord(tool, version, "clean", (), _now())


def check_skops(path: str | os.PathLike) -> ScanRecord | None:
    """skops files name the types they need; an untrusted one would run code on load.
    Optional: only when skops is installed."""
    if importlib.util.find_spec("skops") is None:
        return None
    try:
        from skops.io import get_untrusted_types  # noqa: PLC0415 - optional: skops is asked only when installed and a .skops file is scanned

        untrusted = get_untrusted_types(file=str(path))
    except Exception as exc:
        return ScanRecord("skops", _version("skops"), "error",
                          (f"could not read: {type(exc).__name__}: {exc}"[:300],), _now())
    if untrusted:
        return ScanRecord("skops", _version("skops"), "findings",
                          tuple(f"untrusted type {t}" for t in untrusted), _now(),
                          tuple(untrusted))
    return ScanRecord("skops", _version("skops"), "clean", (), _now())


def scan(path: str | os.PathLike, display: str | None = None, *,
         max_unpacked: int = MAX_UNPACKED) -> ScanRecord | None:
    """The scan record for one weights file, or None when no scanner applies to it."""
    p = Path(path)
    name = display or p.name
    suffix = p.suffix.lower()
    walk = _walk(p, name, max_unpacked)
    if walk.pickles and suffix in SAFE_FORMAT_SUFFIXES:
        walk.refuse(name, f"pickle named {suffix}", f"the file is a pickle named {suffix}, "
                    "which promises a format that cannot run code")
    if suffix == ".safetensors" and not walk.findings:
        # no pickle in it: judged by its header (what else the walk met, a zip-like tail
        # say, is no safetensors loader's concern)
        record = check_safetensors(p)
        if record.status == "clean":
            return record
        return dataclasses.replace(record, findings=(*record.findings, *walk.errors))
    if walk.findings or walk.pickles or suffix in PICKLE_EXTENSIONS:
        return _record(walk, p)
    if walk.errors:
        return ScanRecord(TOOL, tool_version(), "error", tuple(walk.errors), _now())
    if suffix == ".skops":
        return check_skops(p)
    return None


__all__ = ["ALLOWED_GLOBALS", "MAX_DEPTH", "MAX_UNPACKED", "PICKLE_EXTENSIONS", "TOOL",
           "ScanRecord", "check_safetensors", "check_skops", "is_pickle_family", "scan", "scan_pickle",
           "tool_version"]
