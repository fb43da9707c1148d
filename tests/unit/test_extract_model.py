"""The committed ONNX NER model (models/ner): loads without torch, predicts valid spans, plugs into the extractor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")

from toolkit.errors import InputError
from toolkit.extract.model import LABELS, NerModel, NerVocab, decode_tags, load_ner_model, normalise_text

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "ner"
GOLD = ROOT / "eval" / "data" / "extract_gold.jsonl"

TEXTS = (
    "患者女性七十岁反复咳嗽咳痰两周伴胸闷气短既往慢性阻塞性肺疾病十年",
    "宝宝发烧三天，嗓子红，吃了布洛芬混悬液还是反复发热，是不是扁桃体炎？",
    "右膝关节肿痛一个月，上下楼梯加重，诊断膝骨关节炎，给予塞来昔布胶囊200mg每日一次口服",
    "ＡＢＣ１２３",  # full-width ASCII only: must not crash, offsets still valid
    "头痛",
)


@pytest.fixture(scope="module")
def model() -> NerModel:
    return load_ner_model(MODEL_DIR)


def test_loads_once_and_never_imports_torch() -> None:
    code = (
        "import sys; from toolkit.extract.model import load_ner_model; "
        f"m = load_ner_model({str(MODEL_DIR)!r}); m.predict('头晕三天'); "
        f"assert load_ner_model({str(MODEL_DIR)!r}) is m; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("text", TEXTS)
def test_spans_are_valid_offsets_with_closed_labels(model: NerModel, text: str) -> None:
    spans = model.predict(text)
    last_end = 0
    for start, end, label, norm in spans:
        assert 0 <= start < end <= len(text)
        assert start >= last_end  # non-overlapping, in order
        last_end = end
        assert label in LABELS
        assert norm is None
        assert text[start:end].strip()


def test_finds_plain_clinical_entities(model: NerModel) -> None:
    text = TEXTS[0]
    found = {(text[s:e], lab) for s, e, lab, _ in model.predict(text)}
    # behaviour the model was trained for: both symptoms and the disease in a clean sentence
    assert ("咳嗽", "symptom") in found
    assert any(lab == "disease" and "阻塞性肺" in t for t, lab in found), found


def test_batch_equals_one_by_one(model: NerModel) -> None:
    texts = ["头痛三天", "腹泻两天", "胸闷气短", "", *TEXTS]  # equal lengths share a session call
    assert model.predict_batch(texts) == [model.predict(t) for t in texts]


def test_long_text_is_windowed_and_offsets_stay_valid(model: NerModel) -> None:
    text = "头痛三天伴恶心呕吐，" * 120  # 1,200 characters > one window
    spans = model.predict(text)
    assert spans and all(text[s:e] and lab in LABELS for s, e, lab, _ in spans)
    assert max(e for _, e, _, _ in spans) <= len(text)
    assert any(s > 1000 for s, _, _, _ in spans)  # the last window is tagged too


def test_empty_text_gives_no_spans(model: NerModel) -> None:
    assert model.predict("") == []


def test_decode_tags_repairs_stray_inside_tags() -> None:
    assert decode_tags(["B-drug", "I-drug", "O", "I-symptom", "I-symptom", "B-disease"]) == [
        (0, 2, "drug"),
        (3, 5, "symptom"),
        (5, 6, "disease"),
    ]
    assert decode_tags(["B-drug", "I-disease"]) == [(0, 1, "drug"), (1, 2, "disease")]


def test_normalise_keeps_length() -> None:
    text = "ＢＰ１６０／１００ｍｍＨｇ阿莫西林"
    assert len(normalise_text(text)) == len(text)
    assert normalise_text(text).startswith("bp000/000mmhg")


def test_vocab_rejects_unknown_tags(tmp_path: Path) -> None:
    (tmp_path / "vocab.json").write_text(json.dumps({"chars": ["<pad>", "<unk>"], "tags": ["O", "B-organ"]}))
    with pytest.raises(InputError, match="unknown tags"):
        NerVocab.read(tmp_path / "vocab.json")


def test_missing_model_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"model\.onnx"):
        NerModel(tmp_path)


def test_manifest_and_card_are_committed() -> None:
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["opset"] and manifest["tolerance"] and manifest["metrics_fp32"]
    assert manifest["max_abs_diff_fp32"] <= manifest["tolerance"]
    assert (MODEL_DIR / "MODEL_CARD.md").is_file()
    total = sum(p.stat().st_size for p in MODEL_DIR.iterdir() if p.is_file())
    assert total < 5 * 1024 * 1024


def test_int8_manifest_says_what_was_quantised_and_on_which_data(model: NerModel) -> None:
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text(encoding="utf-8"))
    if manifest["quantization"] != "int8-static":
        pytest.skip("the committed model is not the static int8 export")
    detail = manifest["quantization_detail"]
    assert "Conv" in detail["static_op_types"] and detail["dynamic_op_types"] == ["LSTM"]
    source = detail["calibration"]["source"]
    assert "train" in source and detail["calibration"]["samples"] >= 100
    assert "never dev, test" in source  # calibration never reads evaluation data
    fp32, int8 = manifest["metrics_fp32"], manifest["metrics_int8"]
    assert fp32["cmedqaner_dev_f1_micro"] - int8["cmedqaner_dev_f1_micro"] <= 0.005
    assert all(fp32[k] - int8[k] <= 0.015 for k in fp32)
    assert manifest["session_options"] == {"disabled_optimizers": ["SkipLayerNormFusion"]}
    # run-time activation quantisation in the LSTM: batches would change scores, so one text per call
    assert model.quantization == "int8-static" and not model.batch_invariant


@pytest.mark.slow
def test_real_model_through_the_extractor_on_a_gold_dictation() -> None:
    """The recommended setting (rules first, confident model spans fill the gaps) on a gold dictation:
    the model runs inside the pipeline, offsets stay valid, and no span or item the rules got is lost."""
    pytest.importorskip("spacy")
    from toolkit.extract import ExtractOptions, Extractor
    from toolkit.extract.model import GapFillModel
    from toolkit.extract.pipeline import MODEL_KEY

    case = json.loads(GOLD.read_text(encoding="utf-8").splitlines()[0])
    text = case["text"]
    model = load_ner_model(MODEL_DIR, min_confidence=0.9)
    assert model.predict(text), "the model finds nothing in a plain dictation"
    rules = Extractor(ExtractOptions())
    fill = GapFillModel(model, lambda t: [(e.start, e.end) for e in rules.extract(t).entities])
    with_model = Extractor(ExtractOptions(), model=fill)
    assert "clinic_learned_ner" in with_model.nlp.pipe_names
    assert MODEL_KEY in with_model.nlp(text).spans
    rec, base = with_model.extract(text), rules.extract(text)
    for e in rec.entities:
        assert text[e.start : e.end] == e.text
        assert e.label.value in LABELS or e.source != "model"
    gold = {(e["start"], e["end"], e["label"]) for e in case["entities"]}
    got = {(e.start, e.end, e.label.value) for e in rec.entities}
    base_got = {(e.start, e.end, e.label.value) for e in base.entities}
    assert gold & base_got <= got, sorted((gold & base_got) - got)
    assert [it.model_dump() for it in rec.items] == [it.model_dump() for it in base.items]
