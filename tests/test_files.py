"""Hashing and atomic writes (modelreg.core.files): the one home of each."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from modelreg.core import files


def test_write_atomic_creates_parents_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "models" / "iris" / "stages.yaml"
    files.write_atomic(target, "stages: {}\n")
    assert target.read_bytes() == b"stages: {}\n"
    assert os.listdir(target.parent) == ["stages.yaml"]


def test_write_atomic_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "stages.yaml"
    target.write_text("stages:\n  production: 1.0.0\n  staging: 1.1.0\n", encoding="utf-8")
    files.write_atomic(target, "stages:\n  production: 1.1.0\n")
    assert target.read_text(encoding="utf-8") == "stages:\n  production: 1.1.0\n"
    assert os.listdir(tmp_path) == ["stages.yaml"]


def test_write_atomic_writes_utf8_with_unix_newlines(tmp_path: Path) -> None:
    target = tmp_path / "card.md"
    files.write_atomic(target, "owner: Jos\u00e9\nline two\n")
    assert target.read_bytes() == "owner: Jos\u00e9\nline two\n".encode()


def test_write_atomic_failure_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "stages.yaml"
    target.write_text("stages: {production: 1.0.0}\n", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        files.write_atomic(target, "stages: {production: \ud800}\n")   # lone surrogate
    assert target.read_text(encoding="utf-8") == "stages: {production: 1.0.0}\n"


def test_write_atomic_failure_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "stages.yaml"
    target.write_text("stages: {}\n", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        files.write_atomic(target, "\ud800")
    assert os.listdir(tmp_path) == ["stages.yaml"]


def test_write_atomic_writes_bytes_as_given(tmp_path: Path) -> None:
    target = tmp_path / "model.sig"
    files.write_atomic(target, b"\x00\xffbundle\r\n")
    assert target.read_bytes() == b"\x00\xffbundle\r\n"


def test_write_atomic_failed_rename_keeps_the_target_and_removes_the_temp_file(
        tmp_path: Path) -> None:
    target = tmp_path / "card.md"
    target.mkdir()                                   # os.replace cannot put a file over it
    (target / "keep").write_text("x")
    with pytest.raises(OSError):
        files.write_atomic(target, "text\n")
    assert sorted(os.listdir(tmp_path)) == ["card.md"]
    assert (target / "keep").read_text() == "x"


def test_hash_file_gives_md5_sha256_and_size_in_one_pass(tmp_path: Path) -> None:
    data = os.urandom(files.CHUNK * 2 + 123)          # more than one chunk
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    got = files.hash_file(path)
    assert got == files.FileHashes(hashlib.md5(data).hexdigest(),
                                   hashlib.sha256(data).hexdigest(), len(data))


def test_hash_file_of_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    assert files.hash_file(path) == files.FileHashes(hashlib.md5(b"").hexdigest(),
                                                     hashlib.sha256(b"").hexdigest(), 0)
