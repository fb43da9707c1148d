"""The one export path: a tiny torch model → ONNX with parity, manifest, int8 gate, torch-free runtime."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export needs the [train] extra (torch)")
pytest.importorskip("onnx", reason="export needs the [export] extra (onnx)")

from toolkit.onnx import ExportManifest, OnnxModel, ParityError, export  # noqa: E402
from toolkit.onnx.models import auc_metric  # noqa: E402

pytestmark = pytest.mark.slow

AXES = {"x": {0: "batch"}, "p": {0: "batch"}}


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(np.float32)
    return x, y


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = torch.nn.Linear(6, 16)
        self.l2 = torch.nn.Linear(16, 1)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return torch.sigmoid(self.l2(torch.relu(self.l1(x)))).squeeze(-1)


@pytest.fixture(scope="module")
def trained() -> tuple[Tiny, np.ndarray, np.ndarray]:
    torch.manual_seed(0)
    x, y = _data(400, 0)
    model = Tiny()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy(model(xt), yt).backward()
        opt.step()
    return model.eval(), *_data(200, 1)


def test_export_parity_manifest_and_int8_gate(trained, tmp_path: Path) -> None:
    model, x, y = trained
    m = export(
        model,
        (x[:2],),
        tmp_path,
        input_names=("x",),
        output_names=("p",),
        dynamic_axes=AXES,
        parity_inputs=(x,),
        tolerance=1e-5,
        metric_fn=auc_metric(y),
        source="test",
    )
    assert (tmp_path / "model.onnx").is_file()
    saved = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert saved["opset"] == 17 and saved["tolerance"] == 1e-5 and saved["parity_samples"] == 200
    assert m.max_abs_diff_fp32 <= 1e-5
    assert m.metrics_fp32["auc"] > 0.8  # the tiny model learned something; the metric is real
    assert m.quantization_requested == "int8"
    # shipped int8 only when its AUC stayed within the metric tolerance; otherwise fp32, and the note says why
    if m.quantization == "int8":
        assert m.metrics_fp32["auc"] - m.metrics_int8["auc"] <= 0.005
    else:
        assert "rejected" in m.quantization_note
    assert ExportManifest.read(tmp_path) == m
    # dynamic batch: a batch size never seen at export runs and matches torch
    out = OnnxModel(tmp_path)(x[:7])["p"]
    with torch.no_grad():
        ref = model(torch.from_numpy(x[:7])).numpy()
    tol = 1e-5 if m.quantization is None else 0.05
    np.testing.assert_allclose(out, ref, atol=tol)


def test_int8_rejected_when_metric_cannot_hold(trained, tmp_path: Path) -> None:
    model, x, _ = trained
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()

    def closeness(outs):  # type: ignore[no-untyped-def]
        return {"closeness": -float(np.abs(outs[0] - ref).max())}

    # int8 moves outputs by ~1e-3..1e-2; a metric that tolerates 1e-4 must refuse it and keep fp32
    m = export(
        model,
        (x[:2],),
        tmp_path,
        input_names=("x",),
        output_names=("p",),
        dynamic_axes=AXES,
        parity_inputs=(x,),
        tolerance=1e-5,
        metric_fn=closeness,
        metric_tolerance=1e-4,
    )
    assert m.max_abs_diff_int8 is not None and m.max_abs_diff_int8 > 1e-4
    assert m.quantization is None and "rejected" in m.quantization_note
    assert m.metrics_int8["closeness"] < m.metrics_fp32["closeness"] - 1e-4


def test_parity_failure_is_an_error(trained, tmp_path: Path) -> None:
    model, x, _ = trained
    with pytest.raises(ParityError, match="tolerance"):
        export(
            model,
            (x[:2],),
            tmp_path,
            input_names=("x",),
            output_names=("p",),
            dynamic_axes=AXES,
            parity_inputs=(x,),
            tolerance=-1.0,
            quantize=None,
        )
    assert not (tmp_path / "model.onnx").exists()


def test_runs_without_torch_in_a_subprocess(trained, tmp_path: Path) -> None:
    model, x, _ = trained
    export(
        model,
        (x[:2],),
        tmp_path,
        input_names=("x",),
        output_names=("p",),
        dynamic_axes=AXES,
        parity_inputs=(x,),
        tolerance=1e-5,
        quantize=None,
    )
    np.save(tmp_path / "x.npy", x[:5])
    with torch.no_grad():
        expected = model(torch.from_numpy(x[:5])).numpy()
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
        sys.meta_path.insert(0, Block())
        import numpy as np
        from toolkit.onnx import OnnxModel
        m = OnnxModel({str(tmp_path)!r}, intra_op_threads=1)
        out = m(np.load({str(tmp_path / "x.npy")!r}))["p"]
        assert "torch" not in sys.modules
        print(",".join(f"{{v:.7f}}" for v in out))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = np.array([float(v) for v in proc.stdout.strip().split(",")])
    np.testing.assert_allclose(got, expected, atol=1e-5)


class TinyConv(torch.nn.Module):
    """Embedding → Conv1d + ReLU → LSTM → linear: the op types of the NER tagger, small."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(30, 8)
        self.conv = torch.nn.Conv1d(8, 16, kernel_size=3, padding=1)
        self.lstm = torch.nn.LSTM(16, 8, batch_first=True, bidirectional=True)
        self.out = torch.nn.Linear(16, 3)

    def forward(self, ids):  # type: ignore[no-untyped-def]
        x = torch.relu(self.conv(self.emb(ids).transpose(1, 2))).transpose(1, 2)
        return self.out(self.lstm(x)[0])


def _ids(n: int, length: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 30, size=(n, length)).astype(np.int64)


def test_static_int8_records_what_was_quantised_and_with_which_data(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyConv().eval()
    parity = _ids(16, 12, 1)
    calib = [(_ids(1, 5 + i % 7, 100 + i),) for i in range(40)]  # variable lengths, batch 1
    with torch.no_grad():
        ref = model(torch.from_numpy(parity)).numpy()

    def agreement(per_call):  # type: ignore[no-untyped-def]
        # metric_inputs: one list of outputs per call
        got = np.concatenate([outs[0] for outs in per_call])
        return {"argmax_agreement": float((got.argmax(-1) == ref.argmax(-1)).mean())}

    axes = {"ids": {0: "batch", 1: "length"}, "scores": {0: "batch", 1: "length"}}
    m = export(
        model,
        (parity[:2],),
        tmp_path,
        input_names=("ids",),
        output_names=("scores",),
        dynamic_axes=axes,
        parity_inputs=(parity,),
        tolerance=1e-4,
        quantize="int8-static",
        metric_fn=agreement,
        metric_tolerance={"argmax_agreement": 1.0},
        metric_inputs=[(parity[i : i + 1],) for i in range(16)],
        calibration_inputs=calib,
        calibration_source="40 random id sequences (test)",
        static_op_types=("Conv", "Relu"),
        session_options={"disabled_optimizers": ["SkipLayerNormFusion"]},
    )
    assert m.quantization == "int8-static", m.quantization_note
    d = m.quantization_detail
    assert d["static_op_types"] == ["Conv", "Relu"] and d["dynamic_op_types"] == ["LSTM"]
    assert "MatMul" in d["left_fp32"] or "Gemm" in d["left_fp32"]
    assert d["calibration"] == {"samples": 40, "source": "40 random id sequences (test)"}
    assert m.metrics_fp32["argmax_agreement"] == 1.0 and "argmax_agreement" in m.metrics_int8
    saved = ExportManifest.read(tmp_path)
    assert saved == m and saved.session_options == {"disabled_optimizers": ["SkipLayerNormFusion"]}
    import onnx

    ops = {n.op_type for n in onnx.load(str(tmp_path / "model.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLSTM"} <= ops and "LSTM" not in ops
    out = OnnxModel(tmp_path)(parity[:3])["scores"]  # the runtime applies the manifest's session options
    np.testing.assert_allclose(out, ref[:3], atol=0.25)


def test_static_int8_needs_named_calibration_data_and_existing_nodes(tmp_path: Path) -> None:
    model = TinyConv().eval()
    parity = _ids(4, 6, 2)
    kw = {
        "input_names": ("ids",),
        "output_names": ("scores",),
        "dynamic_axes": {"ids": {0: "b", 1: "n"}},
        "parity_inputs": (parity,),
        "tolerance": 1e-4,
        "quantize": "int8-static",
    }
    from toolkit.errors import ToolkitError

    with pytest.raises(ToolkitError, match="calibration"):
        export(model, (parity[:1],), tmp_path, **kw)
    with pytest.raises(ToolkitError, match="not in the exported graph"):
        export(
            model,
            (parity[:1],),
            tmp_path,
            **kw,
            calibration_inputs=[(parity[:1],)],
            calibration_source="x",
            nodes_to_exclude=("/no/such/node",),
        )
    with pytest.raises(ToolkitError, match="session options"):
        export(
            model,
            (parity[:1],),
            tmp_path,
            **kw,
            calibration_inputs=[(parity[:1],)],
            calibration_source="x",
            session_options={"spin": True},
        )
    with pytest.raises(ToolkitError, match="preset"):
        export(model, (parity[:1],), tmp_path, **{**kw, "quantize": "int4"})
