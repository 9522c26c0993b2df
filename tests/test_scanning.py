"""The weights scanner and the secret detector against inputs built to get past them, and the
honest files they must keep passing.

Hostile pickles are written byte by byte and never loaded (the ``pwned`` marker checks).
The one pickle that is loaded, to show that a re-exported module really reaches ``os``,
calls ``os.getcwd``."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import pickle
import random
import re
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelreg.store import credentials, scanning


@pytest.fixture
def pwned(tmp_path) -> Path:
    marker = tmp_path / "PWNED"
    yield marker
    assert not marker.exists(), "a malicious pickle was executed"


# --- pickles written by hand ----------------------------------------------------------------
def _u(text: str) -> bytes:
    """SHORT_BINUNICODE then MEMOIZE."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw + b"\x94"


def _call(arg: str) -> bytes:
    """(arg,) REDUCE STOP: call what is on the stack with one string."""
    return _u(arg) + b"\x85\x94R\x94."


def stack_global(module: str, name: str, arg: str) -> bytes:
    return b"\x80\x04" + _u(module) + _u(name) + b"\x93\x94" + _call(arg)


def global_op(module: str, name: str, arg: str, proto: int = 4) -> bytes:
    return b"\x80" + bytes([proto]) + f"c{module}\n{name}\n".encode() + _call(arg)


def hostile_pickles(marker: Path) -> dict[str, tuple[bytes, str]]:
    """{case: (pickle, the global a finding must name)}. Each reaches a shell through a
    module that merely imports os or subprocess; picklescan's deny-list passes them all."""
    cmd = f"echo PWNED > {marker}"
    memo_module = (b"\x80\x04" + b"\x8c\x04glob\x94"          # memo 0 = 'glob'
                   + b"0"                                     # POP: the string leaves the stack
                   + b"N0"                                    # unrelated work
                   + b"h\x00" + _u("os.system")               # BINGET 0, then the name
                   + b"\x93" + _call(cmd))
    memoised_callable = (b"\x80\x02" + b"ctempfile\n_os.system\nq\x05" + b"0"
                         + b"(K\x01K\x02l0"                   # unrelated work
                         + b"h\x05" + _call(cmd))            # BINGET 5, then REDUCE
    return {
        "STACK_GLOBAL glob.os.system": (stack_global("glob", "os.system", cmd), "glob.os.system"),
        "STACK_GLOBAL from the memo": (memo_module, "glob.os.system"),
        "GLOBAL tempfile._os.system": (global_op("tempfile", "_os.system", cmd),
                                       "tempfile._os.system"),
        "GLOBAL imaplib.subprocess.getoutput": (
            global_op("imaplib", "subprocess.getoutput", cmd), "imaplib.subprocess.getoutput"),
        "REDUCE on a memoised callable": (memoised_callable, "tempfile._os.system"),
        "INST mailcap.os.system": (f"\x80\x04(S'{cmd}'\nimailcap\nos.system\n.".encode("latin1"),
                                   "mailcap.os.system"),
        "OBJ platform.os.popen": (b"\x80\x04(cplatform\nos.popen\n" + _u(cmd)[:-1] + b"o.",
                                  "platform.os.popen"),
        "an allowed module, another name": (global_op("numpy", "load", "/tmp/x.npy"),
                                            "numpy.load"),
        "an allowed global's attribute": (stack_global("numpy", "ndarray.__reduce__", "x"),
                                          "numpy.ndarray.__reduce__"),
        "builtins.getattr": (global_op("builtins", "getattr", "x", proto=2),
                             "builtins.getattr"),
    }


def test_a_module_that_imports_os_does_reach_it():
    """The attack is real: protocol 4 resolves a dotted name attribute by attribute."""
    harmless = b"\x80\x04" + _u("glob") + _u("os.getcwd") + b"\x93)R."
    assert pickle.loads(harmless) == os.getcwd()


@pytest.mark.parametrize("case", list(hostile_pickles(Path("/nonexistent"))))
def test_globals_off_the_allow_list_are_findings_however_reached(tmp_path, pwned, case):
    data, expected = hostile_pickles(pwned)[case]
    path = tmp_path / "model.pkl"
    path.write_bytes(data)
    record = scanning.scan(path)
    assert record.status == "findings", record
    assert expected in record.dangerous, record
    assert any(expected in f and "allow-list" in f for f in record.findings)


def test_unresolvable_stack_global_and_extension_codes_are_findings(tmp_path):
    built = (b"\x80\x04c_codecs\nencode\n" + _u("glob") + _u("latin1") + b"\x86R"   # a str, made
             + _u("os.system") + b"\x93" + _call("echo"))                        # by a call
    ext = b"\x80\x02\x82\x01)R."
    for name, data in (("built.pkl", built), ("ext.pkl", ext)):
        (tmp_path / name).write_bytes(data)
        record = scanning.scan(tmp_path / name)
        assert record.status == "findings", record
        assert "cannot be resolved" in " ".join(record.findings)


def test_a_pickle_without_stop_or_proto_is_still_judged(tmp_path, pwned):
    """Code runs at REDUCE, before the loader notices the missing STOP; DUP hides the module
    from a scanner that reads only the two pushes before STACK_GLOBAL."""
    path = tmp_path / "weights.dat"
    path.write_bytes(b"\x8c\x05posix2\x8c\x06system\x93" + _u(f"echo PWNED > {pwned}")
                     + b"\x85R")
    record = scanning.scan(path)
    assert record is not None and record.status == "findings", record
    assert "cannot be resolved" in record.findings[0]


# --- what is a pickle: content, not name ----------------------------------------------------
class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo PWNED > {self.marker}",))


@pytest.mark.parametrize("name", ["model.safetensors", "weights.dat", "weights", "model.onnx"])
def test_a_protocol_0_pickle_is_a_pickle_whatever_its_name(tmp_path, pwned, name):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(_Evil(pwned), protocol=0))
    assert not path.read_bytes().startswith(b"\x80")
    record = scanning.scan(path)
    assert record is not None and record.status == "findings", record
    assert "posix.system" in record.dangerous


@pytest.mark.parametrize("protocol", [0, 1, 4])
def test_a_benign_pickle_named_safetensors_is_refused(tmp_path, protocol):
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=protocol))
    record = scanning.scan(path)
    assert record.status == "findings" and "pickle named .safetensors" in record.findings[0]


@pytest.mark.parametrize("data", [b"1.0.0" * 10, b"weights:" + b"\x00" * 64, b"N.", b"(l."])
def test_bytes_that_merely_contain_opcodes_are_not_a_pickle(tmp_path, data):
    """A STOP after a few valid opcodes is not a pickle unless the stack and marks add up
    (``1.`` pops a mark that was never pushed); a pickle named .safetensors is refused, a
    broken file under that name is an error."""
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    record = scanning.scan(path)
    wellformed = data in (b"N.", b"(l.")
    assert record.status == ("findings" if wellformed else "error"), record


# --- compressed files and archives of any name ----------------------------------------------
def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("how", ["gzip", "bz2", "xz", "zlib", "zip", "zip-stored",
                                 "gzip-in-zip-in-xz", "tar", "tar-in-gzip"])
@pytest.mark.parametrize("name", ["model.pkl", "weights.npz", "archive"])
def test_compressed_and_archived_pickles_are_opened_and_judged(tmp_path, pwned, how, name):
    evil = pickle.dumps({"w": [0.5], "x": _Evil(pwned)}, protocol=4)
    data = {"gzip": lambda: gzip.compress(evil), "bz2": lambda: bz2.compress(evil),
            "xz": lambda: lzma.compress(evil), "zlib": lambda: zlib.compress(evil),
            "zip": lambda: _zip({"model/weights": evil}),
            "zip-stored": lambda: _zip({"a.npy": b"\x93NUMPY", "data.pkl": evil},
                                       zipfile.ZIP_STORED),
            "gzip-in-zip-in-xz": lambda: lzma.compress(_zip({"inner.gz": gzip.compress(evil)})),
            "tar": lambda: _tar({"sys_info": b"{}", "pickle": evil}),   # torch's legacy layout
            "tar-in-gzip": lambda: gzip.compress(_tar({"model/weights": evil})),
            }[how]()
    path = tmp_path / name
    path.write_bytes(data)
    record = scanning.scan(path)
    assert record is not None and record.status == "findings", record
    assert "posix.system" in record.dangerous


def test_numpy_object_arrays_hold_pickles_and_are_judged(tmp_path, pwned):
    import numpy as np

    evil = np.empty(2, dtype=object)
    evil[:] = [1.5, _Evil(pwned)]
    np.save(tmp_path / "weights.npy", evil, allow_pickle=True)
    np.savez(tmp_path / "bundle.npz", w=np.ones(3), x=evil)
    for name in ("weights.npy", "bundle.npz"):
        record = scanning.scan(tmp_path / name)
        assert record is not None and record.status == "findings", record
        assert "posix.system" in record.dangerous
    honest = np.array(["a", 1, 2.5, None], dtype=object)
    np.save(tmp_path / "labels.npy", honest, allow_pickle=True)
    assert scanning.scan(tmp_path / "labels.npy").status == "clean"
    np.savez(tmp_path / "plain.npz", w=np.ones(3), b=np.zeros((2, 2), dtype=[("a", "<f8")]))
    assert scanning.scan(tmp_path / "plain.npz") is None       # no pickle anywhere


@pytest.mark.parametrize("compress", [0, 3, ("zlib", 3), ("xz", 1)])
def test_joblib_arrays_are_stepped_over_and_what_follows_them_judged(tmp_path, pwned, compress):
    """joblib writes each array's raw bytes inside the pickle stream; a payload placed after
    them is read as joblib's loader reads it."""
    import joblib
    import numpy as np

    objects = np.empty(2, dtype=object)
    objects[:] = ["a", 2]
    honest = {"w": np.arange(2000.0), "i": np.arange(7, dtype=np.int8), "o": objects,
              "s": np.array(["ab", "c"]), "t": np.array(["2026-01-01"], dtype="datetime64[ns]"),
              "e": np.zeros((0, 3), dtype=np.float32)}
    joblib.dump(honest, tmp_path / "honest.joblib", compress=compress)
    record = scanning.scan(tmp_path / "honest.joblib")
    assert record.status == "clean", record
    joblib.dump({**honest, "x": _Evil(pwned)}, tmp_path / "after.joblib", compress=compress)
    evil_objects = np.empty(1, dtype=object)
    evil_objects[0] = _Evil(pwned)
    joblib.dump({"w": np.ones(3), "o": evil_objects}, tmp_path / "inside.joblib",
                compress=compress)
    for name in ("after.joblib", "inside.joblib"):
        record = scanning.scan(tmp_path / name)
        assert record.status == "findings" and "posix.system" in record.dangerous, record


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.data += b
        return len(b)

    def tell(self) -> int:
        raise io.UnsupportedOperation("a stream")


def test_joblib_array_bytes_that_are_a_pickle_program_are_findings(tmp_path, pwned):
    """Written to a stream, joblib puts no padding byte (which is no opcode) before an
    array, so ``pickle.load`` would run array bytes that joblib itself reads as data."""
    import joblib
    import numpy as np

    program = np.frombuffer(pickle.dumps(_Evil(pwned), protocol=2), dtype=np.uint8)
    stream = _Unseekable()
    joblib.dump({"w": program}, stream)
    (tmp_path / "model.joblib").write_bytes(bytes(stream.data))
    stream = _Unseekable()
    joblib.dump({"w": np.arange(100.0)}, stream)
    (tmp_path / "honest.joblib").write_bytes(bytes(stream.data))
    assert scanning.scan(tmp_path / "honest.joblib").status == "clean"
    record = scanning.scan(tmp_path / "model.joblib")
    assert record.status == "findings" and "also a pickle program" in record.findings[0]


def test_joblib_arrays_the_scanner_cannot_size_are_errors(tmp_path):
    """An array wrapper whose dtype it cannot read leaves the scanner unable to tell array
    bytes from opcodes: error, never a guess. Structured dtypes are sized (a random forest's
    tree nodes are one)."""
    import joblib
    import numpy as np

    path = tmp_path / "model.joblib"
    joblib.dump({"w": np.ones(3), "nodes": np.zeros(3, dtype=[("a", "<f8"), ("b", "<i4")]),
                 "sub": np.zeros(2, dtype=("f8", (3,)))}, path)
    assert scanning.scan(path).status == "clean"
    data = path.read_bytes()
    assert data.count(b"\x8c\x02f8") == 1
    path.write_bytes(data.replace(b"\x8c\x02f8", b"\x8c\x02z8"))
    record = scanning.scan(path)
    assert record.status == "error" and "dtype 'z8'" in record.findings[0], record


def test_decompression_bombs_deep_nesting_and_unknown_compressors_are_refused(tmp_path):
    bomb = tmp_path / "model.pkl.gz"
    bomb.write_bytes(gzip.compress(pickle.dumps(bytes(4 * 1024 * 1024), protocol=4)))
    record = scanning.scan(bomb, max_unpacked=1024 * 1024)
    assert record.status == "error" and "decompression bomb" in record.findings[0]
    zip_bomb = tmp_path / "archive.zip"
    zip_bomb.write_bytes(_zip({f"{i}.pkl": pickle.dumps(b"\0" * 400_000) for i in range(8)}))
    record = scanning.scan(zip_bomb, max_unpacked=1024 * 1024)
    assert record.status == "error" and "decompression bomb" in record.findings[0]

    data = pickle.dumps([1.0])
    for _ in range(scanning.MAX_DEPTH + 1):
        data = gzip.compress(data)
    deep = tmp_path / "deep.pkl"
    deep.write_bytes(data)
    record = scanning.scan(deep)
    assert record.status == "error" and "nested" in record.findings[0]

    for magic in (b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18"):       # zstd, lz4
        other = tmp_path / "model.bin"
        other.write_bytes(magic + os.urandom(64))
        record = scanning.scan(other)
        assert record.status == "error" and "cannot open" in record.findings[0]


def test_the_bound_on_expansion_follows_the_file_size(tmp_path, monkeypatch):
    monkeypatch.setattr(scanning, "MIN_UNPACKED", 1024 * 1024)
    bomb = tmp_path / "model.pkl"
    bomb.write_bytes(gzip.compress(pickle.dumps(bytes(16 * 1024 * 1024), protocol=4), 9))
    assert len(bomb.read_bytes()) * scanning.MAX_RATIO < 16 * 1024 * 1024
    record = scanning.scan(bomb)
    assert record.status == "error" and "decompression bomb" in record.findings[0]


def test_damaged_archives_are_errors_never_clean(tmp_path):
    good = _zip({"archive/data.pkl": pickle.dumps({"w": [1.0]}, protocol=2)})
    broken = tmp_path / "model.pt"
    broken.write_bytes(good[:len(good) // 2])
    assert scanning.scan(broken).status == "error"
    truncated = tmp_path / "model.pkl"
    truncated.write_bytes(gzip.compress(pickle.dumps([1.0] * 1000))[:-40])
    assert scanning.scan(truncated).status == "error"


# --- safetensors headers --------------------------------------------------------------------
def _safetensors(header: dict, data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize("case", ["gap", "overlap", "trailing bytes", "short data",
                                  "dtype x shape", "unknown dtype", "duplicate key",
                                  "not json", "extra field", "first not at 0"])
def test_safetensors_whose_tensors_do_not_tile_the_data_are_refused(tmp_path, case):
    a = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    b = {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}
    data = bytes(16)
    header = {"a": a, "b": b}
    raw = None
    if case == "gap":
        header["b"] = {**b, "data_offsets": [12, 20]}
        data = bytes(20)
    elif case == "overlap":
        header["b"] = {**b, "data_offsets": [4, 12]}
        data = bytes(12)
    elif case == "trailing bytes":
        data = bytes(24)
    elif case == "short data":
        data = bytes(12)
    elif case == "dtype x shape":
        header["b"] = {**b, "shape": [3]}
    elif case == "unknown dtype":
        header["b"] = {**b, "dtype": "PICKLE"}
    elif case == "duplicate key":
        raw = b'{"a": %s, "a": %s}' % (json.dumps(a).encode(), json.dumps(a).encode())
        data = bytes(8)
    elif case == "not json":
        raw = b'{"a": {"dtype": "F32",'
    elif case == "extra field":
        header["b"] = {**b, "loader": "pickle"}
    elif case == "first not at 0":
        header = {"b": b}
    path = tmp_path / "model.safetensors"
    if raw is not None:
        path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    else:
        path.write_bytes(_safetensors(header, data))
    record = scanning.scan(path)
    assert record.status == "error", record
    assert record.findings[0].startswith("not a safetensors file")


def test_a_large_random_file_named_safetensors_is_an_error(tmp_path):
    path = tmp_path / "model.safetensors"
    rng = random.Random(7)
    with open(path, "wb") as fh:
        fh.write(rng.randbytes(1 << 20))
        fh.truncate(200 * 1024 * 1024)          # sparse: the rest costs no disk and no time
    record = scanning.scan(path)
    assert record.status == "error" and "not a safetensors file" in record.findings[0]


# --- the honest team ------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", range(6))
def test_numpy_and_scikit_learn_pickles_are_clean(tmp_path, protocol):
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True)
    objects = {
        "array": np.arange(12, dtype=np.float32).reshape(3, 4),
        "logreg": LogisticRegression(max_iter=500).fit(x, y),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y),
        "tree": DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y),
        "state": {"coef": np.ones((3, 4)), "classes": np.array([0, 1, 2]), "n": np.int64(3),
                  "rng": np.random.RandomState(0)},
    }
    for name, obj in objects.items():
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        record = scanning.scan(path)
        assert record.status == "clean", (name, record)
        assert record.tool == scanning.TOOL and record.tool_version


def _load_without_torch(data: bytes):
    """Load a torch-style pickle with stand-ins for torch's names: shows the hand-written
    bytes have the shape torch.save writes."""
    import collections

    stand_ins = {("collections", "OrderedDict"): collections.OrderedDict,
                 ("torch", "FloatStorage"): "FloatStorage",
                 ("torch._utils", "_rebuild_tensor_v2"):
                     lambda storage, offset, size, stride, grad, hooks: (
                         "tensor", storage, offset, size, stride)}

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            return stand_ins[(module, name)]

        def persistent_load(self, pid):
            kind, _storage_type, key, location, numel = pid
            return (kind, key, location, numel)

    return dict(Unpickler(io.BytesIO(data)).load())


def test_a_torch_style_zip_with_a_state_dict_is_clean(tmp_path):
    """torch.save's layout, written without torch: archive/data.pkl rebuilds a tensor from
    a storage the loader reads from archive/data/0 (a persistent id), in an OrderedDict."""
    data_pkl = (b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01"
                b"X\x06\x00\x00\x00weightq\x02"
                b"ctorch._utils\n_rebuild_tensor_v2\nq\x03"
                b"((X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05"
                b"X\x01\x00\x00\x000q\x06X\x03\x00\x00\x00cpuq\x07K\x04tq\x08Q"
                b"K\x00K\x04\x85q\tK\x01\x85q\n\x89h\x00)Rq\x0btq\x0cRq\rs.")
    assert _load_without_torch(data_pkl) == {"weight": ("tensor", ("storage", "0", "cpu", 4),
                                                         0, (4,), (1,))}
    path = tmp_path / "model.pt"
    path.write_bytes(_zip({"archive/data.pkl": data_pkl, "archive/byteorder": b"little",
                           "archive/data/0": struct.pack("<4f", 1, 2, 3, 4),
                           "archive/version": b"3\n"}, zipfile.ZIP_STORED))
    record = scanning.scan(path)
    assert record.status == "clean", record


def test_safetensors_written_by_the_library_and_compressed_benign_pickles_are_clean(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    st_path = tmp_path / "model.safetensors"
    save_file({"w": np.arange(12, dtype=np.float32).reshape(3, 4),
               "b": np.array([10, 13, 0], dtype=np.int8),     # bytes a loose sniffer misreads
               "empty": np.zeros((0, 3), dtype=np.float16),
               "flag": np.array(True)}, str(st_path), metadata={"format": "np"})
    assert scanning.scan(st_path).status == "clean"
    gz = tmp_path / "model.pkl.gz"
    gz.write_bytes(gzip.compress(pickle.dumps({"coef": np.ones(4)}, protocol=4)))
    record = scanning.scan(gz)
    assert record.status == "clean", record
    npy = tmp_path / "weights.npy"
    np.save(npy, np.arange(100.0))
    assert scanning.scan(npy) is None                 # not a pickle: nothing to judge


_GOOD = pickle.dumps({"a": [1, 2.5, "x"], "b": b"yy", "c": (None, True)}, protocol=4)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from([b"", b"\x80\x04", b"\x1f\x8b", b"PK\x03\x04", b"\x93NUMPY\x01\x00",
                        b"c", b"x\x9c", _GOOD[:20], gzip.compress(_GOOD)[:12]]),
       st.binary(max_size=300), st.sampled_from(["m.pkl", "m.safetensors", "m", "m.npy"]))
def test_the_scanner_gives_a_verdict_on_any_bytes(tmp_path, prefix, data, name):
    """Damaged or hostile bytes give a record (or nothing to judge), never an exception."""
    path = tmp_path / name
    path.write_bytes(prefix + data)
    record = scanning.scan(path)
    assert record is None or record.status in ("clean", "findings", "error")


def test_the_allow_list_is_exact_pairs_and_names_no_loader():
    allowed = scanning.ALLOWED_GLOBALS
    assert all(isinstance(m, str) and isinstance(n, str) for m, n in allowed)
    for module, name in allowed:
        assert not module.startswith(("os", "posix", "subprocess", "sys", "importlib"))
        assert name not in {"eval", "exec", "getattr", "__import__", "open", "load", "loads",
                            "system", "compile", "setattr", "apply"}
    assert ("joblib.numpy_pickle", "NDArrayWrapper") not in allowed
    assert ("torch.storage", "_load_from_bytes") not in allowed


def test_every_allowed_global_exists_and_keeps_its_name_under_old_protocols():
    """No typo hides in the list (checked where the library is installed here), and the
    unpickler's Python 2 renaming (protocols 0-2) cannot turn an allowed name into another."""
    import _compat_pickle
    import importlib
    import warnings

    for module, name in scanning.ALLOWED_GLOBALS:
        mapped = _compat_pickle.NAME_MAPPING.get(
            (module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
        assert mapped == (module, name) or mapped[0] in ("builtins", "copyreg"), mapped
        if module.split(".")[0] in ("torch", "__builtin__", "copy_reg"):
            continue                                   # not installed here / Python 2 names
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")            # numpy.core: numpy 1.x's name
            assert hasattr(importlib.import_module(module), name), (module, name)


# --- the secret detector --------------------------------------------------------------------
def _patterns(module) -> list[re.Pattern]:
    """Every compiled expression the module holds, at any depth of its tuples and dicts."""
    found, todo = [], list(vars(module).values())
    while todo:
        value = todo.pop()
        if isinstance(value, re.Pattern):
            found.append(value)
        elif isinstance(value, (tuple, list)):
            todo.extend(value)
        elif isinstance(value, dict):
            todo.extend(value.values())
    return found


def _linear_shape(pattern: re.Pattern) -> list[str]:
    """What keeps an expression from running in linear time, judged on its parse tree:
    a repeat inside a repeat; an unbounded repeat of more than one character; an unbounded
    repeat a search can restart at every character (one not led by a fixed marker or an
    anchor)."""
    from re import _constants as c
    from re import _parser as parser

    repeats = (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT)
    one_char = (c.LITERAL, c.NOT_LITERAL, c.IN, c.ANY, c.CATEGORY)
    problems: list[str] = []
    unbounded = False

    def walk(items, inside: bool) -> None:
        nonlocal unbounded
        for op, av in items:
            if op in repeats:
                _, high, body = av
                if inside:
                    problems.append("a repeat inside a repeat")
                if high == c.MAXREPEAT:
                    unbounded = True
                    if not (len(body) == 1 and body[0][0] in one_char):
                        problems.append("an unbounded repeat of more than one character")
                walk(body, True)
            elif op == c.SUBPATTERN:
                walk(av[-1], inside)
            elif op == c.BRANCH:
                for branch in av[1]:
                    walk(branch, inside)
            elif op in (c.ASSERT, c.ASSERT_NOT):
                walk(av[1], inside)

    def led(items) -> bool:
        items = [item for item in items if item[0] not in (c.ASSERT, c.ASSERT_NOT)]
        if not items:
            return False
        op, av = items[0]
        if op in (c.LITERAL, c.AT):
            return True
        if op == c.SUBPATTERN:
            return led(av[-1])
        return op == c.BRANCH and all(led(branch) for branch in av[1])

    tree = list(parser.parse(pattern.pattern, pattern.flags))
    walk(tree, False)
    if unbounded and not led(tree):
        problems.append("an unbounded repeat a search restarts at every character")
    return problems


def test_the_secret_detector_uses_only_linear_expressions():
    patterns = _patterns(credentials)
    assert len(patterns) >= 8
    bad = {p.pattern: _linear_shape(p) for p in patterns if _linear_shape(p)}
    assert not bad, bad


SECRET_LINES = {
    3: ("an AWS access key id", "aws: AKIAIOSFODNN7EXAMPLE"),
    6: ("a GitHub token", "gh: ghp_" + "a1B2" * 9),
    9: ("a private key", "-----BEGIN RSA PRIVATE KEY-----"),
    12: ("a credential in a URL", "db: postgres://admin:s3cr3t-pw@db.internal/x"),
    15: ("a literal password value", "password: Hunter2-Summer!"),
    18: ("a Slack token", "x" * 100_000 + " xoxb-1234567890-abcdef"),
}


def _adversarial_card() -> str:
    """About 1 MiB of what made the old expressions backtrack, with real secrets between."""
    filler = [
        "a" * 200_000,                                  # one long lowercase token
        "a://" + "b" * 150_000,                         # a scheme with no credentials
        "token" + "=" * 100_000,                        # many `=` after a key word
        "x=" * 60_000 + "=" * 50_000,
        "-----BEGIN " + "A " * 40_000,                  # a PEM label that never ends
        "ghp_" * 20_000 + "AKIA" * 10_000,
        "u://a:" * 15_000,
        "password " + " " * 50_000 + "x",
    ]
    lines = []
    for n in range(1, 20):
        if n in SECRET_LINES:
            lines.append(SECRET_LINES[n][1])
        else:
            lines.append(filler[n % len(filler)])
    text = "\n".join(lines) + "\n"
    assert len(text) > 1024 * 1024
    return text


def test_a_one_mebibyte_adversarial_card_gives_exact_findings():
    leaks = credentials.find(_adversarial_card())
    assert [(leak.line, leak.kind) for leak in leaks] == [
        (line, kind) for line, (kind, _) in sorted(SECRET_LINES.items())]


# The expressions the detector used before it was made linear: correct, but quadratic or
# worse on long tokens. On short texts they are the reference the new detector must agree with.
_ORACLE = (
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}(?![A-Z0-9])")),
    ("a GitHub token", re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("a Slack token", re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}")),
    ("a credential in a URL", re.compile(r"[a-z][a-z0-9+.-]*://[^\s/:@]+:[^\s/@]{3,}@")),
)
_ORACLE_ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9])(password|passwd|pwd|secret|secret[_-]?key|token|auth[_-]?token|"
    r"access[_-]?token|api[_-]?key|access[_-]?key|client[_-]?secret|private[_-]?key)"
    r"[\"']?\s*[:=]\s*[\"']?([^\s\"',#}{\]\[]{6,})")
_ORACLE_PLACEHOLDER = re.compile(r"(?i)^(?:\$\{?.*|<.*>|x+|\*+|todo.*|changeme|none|null|false|"
                                 r"true|redacted|example.*|placeholder.*|required|optional|"
                                 r"\.\.\.)$")


def _oracle(text: str) -> list[tuple[int, str, str]]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        for kind, rx in _ORACLE:
            m = rx.search(line)
            if m:
                out.append((n, kind, m.group(0)[:4]))
                break
        else:
            m = _ORACLE_ASSIGNMENT.search(line)
            if m and not _ORACLE_PLACEHOLDER.match(m.group(2)) and sum(
                    bool(re.search(p, m.group(2)))
                    for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")) >= 2:
                out.append((n, f"a literal {m.group(1).lower()} value", m.group(2)[:2]))
    return out


_PIECES = ["AKIA", "IOSFODNN7EXAMPLE", "ghp_", "a1B2" * 8, "github_pat_", "-----BEGIN ",
           "RSA ", "PRIVATE KEY", " BLOCK", "-----", "xoxb-", "1234567890", "AIza", "A" * 35,
           "http", "://", "user", ":", "pa$$word", "@", "/", " ", "  ", "\n", "\r\n", "\r",
           "\u2028", "\x0c", "password", "token", "Api_Key", "secret-key", "auth_token", "pwd",
           "private_key", "client_secret", "PassWD", "=", ": ", "'", '"', "Hunter2-Summer!",
           "changeme", "${X}", "<x>", "xxxxxx", "todoXYZ1", "a", "Z", "9", "-", "_", "+",
           ".", "\t", "#", "{", "é", "K"]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
def test_the_linear_detector_finds_what_the_old_expressions_found(text):
    assert [(x.line, x.kind, x.excerpt) for x in credentials.find(text)] == _oracle(text)
