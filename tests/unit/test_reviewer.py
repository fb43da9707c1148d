"""The learned reviewer (no torch: runs the committed models/reviewer ONNX with onnxruntime)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the reviewer runs with onnxruntime ([export] extra)")

from toolkit.audit import AuditOptions, audit
from toolkit.audit.resolve import resolve_item
from toolkit.errors import InputError
from toolkit.records import AuditCase, Severity
from toolkit.review import (
    FEATURES,
    ClinicProfile,
    Reviewer,
    auc,
    case_features,
    load_reviewer,
    read_decisions,
)

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "reviewer"
DEV = ROOT / "eval" / "data" / "audit_cases.jsonl"


def _case(
    cid: str,
    items: list[dict],
    age: float | None = 60,
    dx: tuple[tuple[str, str], ...] = (("高血压", "I10"),),
) -> AuditCase:
    return AuditCase.model_validate(
        {
            "id": cid,
            "patient": {"age": age, "sex": "M", "diagnoses": [{"name": n, "icd10": c} for n, c in dx]},
            "prescription": {"items": items},
        }
    )


NIFE = {
    "drug": "硝苯地平控释片",
    "strength": "30 mg",
    "dose": 30,
    "unit": "mg",
    "frequency": "qd",
    "route": "口服",
    "days": 28,
}
DANSHEN = {
    "drug": "冠心舒通胶囊",
    "strength": "27mg",
    "dose": 270,
    "unit": "mg",
    "frequency": "tid",
    "route": "口服",
    "days": 14,
}


@pytest.fixture(scope="module")
def history(shipped_kb) -> ClinicProfile:
    cases = [
        _case(
            f"H{i}",
            [NIFE, {**DANSHEN, "dose": 270 if i % 5 else 243}],
            dx=(("高血压", "I10"), ("冠心病", "I25")),
        )
        for i in range(40)
    ]
    return ClinicProfile.learn(cases, shipped_kb)


@pytest.fixture(scope="module")
def reviewer() -> Reviewer:
    return Reviewer(MODEL)


def _review(reviewer: Reviewer, case: AuditCase, kb) -> object:
    items = [resolve_item(i, it, kb) for i, it in enumerate(case.prescription.items)]
    return reviewer.review(case, items, audit(case, kb).findings)


def test_usual_dose_is_learned_per_drug_including_drugs_missing_from_the_kb(history, shipped_kb) -> None:
    assert shipped_kb.names.resolve("冠心舒通胶囊") is None  # the point: the KB has no limit for it
    nife = history.usual["nifedipine"]
    assert nife.n == 40 and math.exp(nife.dose_median) == pytest.approx(30)
    danshen = history.usual["?冠心舒通胶囊|mg"]
    assert math.exp(danshen.dose_median) == pytest.approx(270)
    assert math.exp(danshen.days_median) == pytest.approx(14)
    z, _ = history.z("?冠心舒通胶囊|mg", "dose", 2700)
    assert z is not None and z > 3.5
    z_usual, _ = history.z("?冠心舒通胶囊|mg", "dose", 270)
    assert z_usual == pytest.approx(0)
    assert history.z("never-seen|mg", "dose", 5)[0] is None


def test_features_of_a_case(history, shipped_kb) -> None:
    case = _case("F1", [NIFE, {**DANSHEN, "dose": 2700}], age=None)
    items = [resolve_item(i, it, shipped_kb) for i, it in enumerate(case.prescription.items)]
    findings = audit(case, shipped_kb).findings
    f = case_features(case, items, findings, history)
    v = dict(zip(FEATURES, f.vector.tolist(), strict=True))
    assert f.vector.shape == (len(FEATURES),) and f.vector.dtype == np.float32
    assert v["n_items"] == 2 and v["age_unknown"] == 1 and v["age_elderly"] == 0
    assert v["unknown_drugs"] == 1
    assert v["dose_over_z"] > 3.5 and v["dose_under_z"] == 0
    assert v["rule_warn"] + v["rule_block"] == sum(x.severity is not Severity.INFO for x in findings)
    assert any(o.drug == "冠心舒通胶囊" and o.kind == "dose" and not o.in_kb for o in f.outliers)
    # a class never seen with the diagnoses is rarer than one always seen with them
    rare = dict((c, r) for _, c, r in f.rare_classes)
    assert history.class_rarity("dhp_ccb", ("I10",)) < history.class_rarity("statin", ("I10",))
    assert rare


def test_outlier_of_a_drug_missing_from_the_kb_raises_a_model_warning(reviewer, history, shipped_kb) -> None:
    reviewer_local = Reviewer(MODEL)
    reviewer_local.profile = history
    case = _case("F2", [NIFE, {**DANSHEN, "dose": 2700}], dx=(("高血压", "I10"), ("冠心病", "I25")))
    review = _review(reviewer_local, case, shipped_kb)
    hits = [f for f in review.findings if f.rule_id == "RX-MODEL-001"]
    assert len(hits) == 1
    f = hits[0]
    assert f.source == "model" and f.severity is Severity.WARN and f.category.value == "dose"
    assert f.drugs == ("冠心舒通胶囊",) and f.items == (1,)
    assert f.evidence["in_knowledge_base"] is False and f.evidence["ratio_to_median"] == pytest.approx(10)
    assert {c["feature"] for c in f.evidence["contributions"]} <= set(FEATURES)
    # the usual dose of the same drug raises nothing
    calm = _review(
        reviewer_local, _case("F3", [NIFE, DANSHEN], dx=(("高血压", "I10"), ("冠心病", "I25"))), shipped_kb
    )
    assert not [f for f in calm.findings if f.rule_id in ("RX-MODEL-001", "RX-MODEL-002", "RX-MODEL-003")]
    assert 0.0 <= calm.risk <= 1.0 and review.risk > calm.risk


def test_model_findings_never_block_and_explain_themselves(reviewer, shipped_kb) -> None:
    from toolkit.evaluation.audit import read_labelled

    seen = 0
    for lc in read_labelled(DEV):
        case = AuditCase.model_validate({"id": lc.id, **lc.case})
        review = _review(reviewer, case, shipped_kb)
        assert set(review.contributions) == set(FEATURES)
        # the logit is the sum of the contributions plus the bias: contributions are exact, not post-hoc
        for f in review.findings:
            seen += 1
            assert f.source == "model" and f.severity in (Severity.INFO, Severity.WARN)
            assert f.rule_id.startswith("RX-MODEL-")
            assert f.evidence["contributions"] and "risk" in f.evidence
    assert seen > 0


def test_contributions_add_up_to_the_risk(reviewer, shipped_kb) -> None:
    case = _case("F4", [NIFE, {**NIFE, "drug": "氨氯地平片", "strength": "5 mg", "dose": 50}])
    r1 = _review(reviewer, case, shipped_kb)
    r0 = _review(reviewer, _case("F5", [NIFE]), shipped_kb)

    # same bias in both: the difference of logits equals the difference of summed contributions
    # (int8 weights: within the quantisation error recorded in the manifest)
    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    diff = sum(r1.contributions.values()) - sum(r0.contributions.values())
    tol = 0.05 if reviewer.model.manifest.quantization else 1e-4
    assert logit(r1.risk) - logit(r0.risk) == pytest.approx(diff, abs=tol)


def test_manifest_records_parity_and_quantisation() -> None:
    m = json.loads((MODEL / "manifest.json").read_text(encoding="utf-8"))
    assert m["max_abs_diff_fp32"] <= m["tolerance"]
    assert m["quantization"] in ("int8", None) and m["quantization_note"]
    assert (MODEL / "model.onnx").stat().st_size < 5 * 1024 * 1024
    assert (MODEL / "MODEL_CARD.md").is_file()


def test_reviewer_runs_without_torch() -> None:
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("blocked")
        sys.meta_path.insert(0, Block())
        from toolkit.review import load_reviewer, review_case
        from toolkit.knowledge import get_knowledge
        from toolkit.records import AuditCase
        case = AuditCase.model_validate({{"id": "X", "prescription": {{"items": [
            {{"drug": "硝苯地平控释片", "dose": 300, "unit": "mg", "frequency": "qd", "days": 28}}]}}}})
        r = review_case(case, get_knowledge(), load_reviewer({str(MODEL)!r}))
        assert "torch" not in sys.modules
        print(r.risk)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 0.0 <= float(proc.stdout.strip()) <= 1.0


def test_read_decisions_names_row_and_field(tmp_path: Path) -> None:
    good = {"case": {"prescription": {"items": [NIFE]}}, "decision": "return"}
    path = tmp_path / "d.jsonl"
    path.write_text(
        json.dumps(good, ensure_ascii=False) + "\n" + json.dumps({**good, "decision": "maybe"}) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"row 2 field 'decision'.*'maybe'"):
        read_decisions(path)
    path.write_text(json.dumps(good, ensure_ascii=False) + "\n", encoding="utf-8")
    (d,) = read_decisions(path)
    assert d.returned and d.case.id == "row-1"


def test_auc_and_precision_at_top() -> None:
    from toolkit.evaluation.reviewer import precision_at

    assert auc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert auc([0.5, 0.5], [True, False]) == 0.5
    assert auc([0.5, 0.4], [True, True]) is None
    # ten cases, top 10% = 1; a tie of two at the top with one positive counts 0.5
    assert precision_at([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == 0.5
    assert precision_at([9, 1, 0, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == 1.0


def test_reviewer_eval_uses_the_audit_scorer(reviewer, shipped_kb) -> None:
    from toolkit.evaluation.audit import evaluate_audit, read_labelled
    from toolkit.evaluation.reviewer import evaluate_reviewer

    cases = read_labelled(DEV)[:60]
    ours = evaluate_reviewer(cases, shipped_kb, reviewer).to_json()["rules"]
    ref = evaluate_audit(cases, shipped_kb).to_json()
    assert ours["micro"] == ref["micro"] and ours["per_category"] == ref["per_category"]


def test_audit_with_the_reviewer_reports_model_findings_and_provenance(shipped_kb, monkeypatch) -> None:
    # the environment configures nothing: the old variable no longer turns the reviewer on
    monkeypatch.setenv("CLINIC_REVIEWER_MODEL", str(MODEL))
    case = _case("E1", [NIFE, {**NIFE, "dose": 300}])
    plain = audit(case, shipped_kb, AuditOptions())
    assert plain.provenance.model is None and all(f.source == "rule" for f in plain.findings)
    report = audit(case, shipped_kb, AuditOptions(reviewer=load_reviewer(MODEL)))
    assert report.provenance.model and report.provenance.model.startswith("reviewer@")
    assert report.risk is not None and 0 <= report.risk <= 1
    model = [f for f in report.findings if f.source == "model"]
    assert model and all(f.severity is not Severity.BLOCK for f in model)
    # the rules' findings are untouched by the model
    assert [f for f in report.findings if f.source == "rule"] == list(plain.findings)


def test_reviewer_pickles_as_its_directory_and_loads_once_per_process() -> None:
    import os
    import pickle

    loaded = load_reviewer(MODEL)
    assert load_reviewer(str(MODEL)) is loaded  # once per process, whatever the path's spelling
    data = pickle.dumps(AuditOptions(min_severity=Severity.WARN, reviewer=loaded))
    # the directory and the loader travel; not the session, the profile or the thresholds
    assert str(MODEL).encode() in data and b"load_reviewer" in data and len(data) < 1000
    back = pickle.loads(data)
    assert back.reviewer is loaded and back.min_severity is Severity.WARN
    # another process: the same options, the model loaded there from the directory (no environment)
    code = textwrap.dedent("""
        import os, pickle, sys
        before = dict(os.environ)
        options = pickle.loads(sys.stdin.buffer.read())
        assert dict(os.environ) == before
        print(options.min_severity.value, options.reviewer.model_dir, sep="|", end="|")
        print(options.reviewer.revision)
    """)
    env = {k: v for k, v in os.environ.items() if k != "CLINIC_REVIEWER_MODEL"}
    proc = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip().split("|") == ["warn", str(MODEL), loaded.revision]


def test_batch_worker_initialiser_builds_the_drivers_options(monkeypatch) -> None:
    import os
    import pickle

    from toolkit.batch import runner

    options = AuditOptions(min_severity=Severity.WARN, reviewer=load_reviewer(MODEL))
    before = dict(os.environ)
    runner._init_worker(None, None, pickle.dumps(options))  # what a pool worker receives
    assert runner._WORKER["options"] == options
    assert dict(os.environ) == before


def test_batch_with_the_reviewer_is_the_same_in_worker_processes(tmp_path: Path) -> None:
    from toolkit.batch import BatchOptions, run_batch

    options = AuditOptions(reviewer=load_reviewer(MODEL))
    src = tmp_path / "cases.jsonl"
    lines = DEV.read_text(encoding="utf-8").splitlines()[:40]
    src.write_text(
        "\n".join(
            json.dumps({"id": (o := json.loads(line))["id"], **o["case"]}, ensure_ascii=False)
            for line in lines
        )
        + "\n",
        encoding="utf-8",
    )
    one = run_batch(src, tmp_path / "one.jsonl", "jsonl", options=BatchOptions(workers=1, audit=options))
    two = run_batch(
        src, tmp_path / "two.jsonl", "jsonl", options=BatchOptions(workers=2, chunk_size=7, audit=options)
    )
    assert one.cases == two.cases == 40
    text = (tmp_path / "one.jsonl").read_text(encoding="utf-8")
    assert text == (tmp_path / "two.jsonl").read_text(encoding="utf-8")
    assert '"source": "model"' in text and '"model": "reviewer@' in text
