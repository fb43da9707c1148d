"""toolkit.service.decisions: the one pharmacist-decision workflow behind the service's decision route and
the demo's 审方队列 (each words its refusals; the checks are these)."""

from __future__ import annotations

from datetime import date

import pytest

from toolkit.records import AuditReport, Finding

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from toolkit.service.decisions import (
    DecisionRefused,
    decision_log,
    has_block,
    record_decision,
)
from toolkit.service.store import Conflict, NotFound


def _finding(sev: str, rule: str) -> Finding:
    return Finding.model_validate(
        {"rule_id": rule, "category": "dose", "severity": sev, "message": "问题", "references": ["说明书"]}
    )


@pytest.fixture
def store(tmp_path):
    from toolkit.demo_api import open_store

    s = open_store(f"sqlite:///{tmp_path / 'q.db'}")
    yield s
    s.writer.close()


def _queued(store, *findings: Finding, case_id: str = "T") -> str:
    report = AuditReport(id=case_id, status="flagged", findings=findings)  # type: ignore[arg-type]
    ids, _docs, job = store.prepare_audits([report], "test", review=True)
    store.write_jobs([job])
    return ids[0]


def _refused(store, audit_id: str, **kw) -> tuple[str, str]:
    with pytest.raises(DecisionRefused) as info:
        record_decision(store, audit_id, **kw)
    return info.value.field, info.value.key


def test_each_refusal_names_its_field_and_key(store):
    block = _queued(store, _finding("block", "RX-B"), _finding("warn", "RX-W"))
    assert _refused(store, block, decision="maybe", pharmacist="李") == ("decision", "unknown_decision")
    assert _refused(store, "", decision="pass", pharmacist="李") == ("audit_id", "no_audit")
    assert _refused(store, block, decision="pass", pharmacist=" ") == ("pharmacist", "no_pharmacist")
    assert _refused(store, block, decision="pass", pharmacist="李") == ("reason", "block_reason_required")
    assert _refused(store, block, decision="return", pharmacist="李", reason=" ") == (
        "reason",
        "reason_required",
    )
    assert _refused(store, block, decision="override", pharmacist="李", reason="获益") == (
        "prescriber",
        "prescriber_required",
    )
    assert _refused(
        store, block, decision="pass", pharmacist="李", reason="x", rule_ids=["RX-W", "RX-Z"]
    ) == (
        "rule_ids[1]",
        "unknown_rule",
    )
    with pytest.raises(NotFound):
        record_decision(store, "0" * 32, decision="pass", pharmacist="李")
    assert store.decisions(block) == ([], [])  # nothing refused was stored


def test_a_reason_code_is_a_reason_only_where_the_codes_are_a_closed_list(store):
    block = _queued(store, _finding("block", "RX-B"))
    # the service: any code string is stored, and it does not stand for a reason
    assert _refused(store, block, decision="pass", pharmacist="李", reason_code="not-applicable") == (
        "reason",
        "block_reason_required",
    )
    # the demo: the standard codes only, and a chosen one is the reason
    closed = {"not-applicable", "benefit-outweighs-risk"}
    assert _refused(
        store,
        block,
        decision="pass",
        pharmacist="李",
        reason_code="because",
        known_codes=closed,
        code_is_reason=True,
    ) == ("reason_code", "unknown_reason_code")
    done = record_decision(
        store,
        block,
        decision="pass",
        pharmacist="李",
        reason_code="not-applicable",
        known_codes=closed,
        code_is_reason=True,
    )
    assert (done.decision.decision, done.decision.reason, done.decision.reason_code) == (
        "pass",
        None,
        "not-applicable",
    )
    assert done.audit.case_id == "T" and done.rule_ids == ("RX-B",) and not done.replayed


def test_one_final_decision_and_a_replay_by_idempotency_key(store):
    a = _queued(store, _finding("warn", "RX-W"), _finding("warn", "RX-W"), case_id="A")
    b = _queued(store, _finding("warn", "RX-V"), case_id="B")
    first = record_decision(store, a, decision="pass", pharmacist="李", idempotency_key="k")
    assert first.rule_ids == ("RX-W",)  # every finding's rule, once
    again = record_decision(store, a, decision="return", pharmacist="张", reason="x", idempotency_key="k")
    assert again.replayed and again.decision.id == first.decision.id and again.decision.decision == "pass"
    with pytest.raises(Conflict):
        record_decision(store, a, decision="return", pharmacist="张", reason="x")
    with pytest.raises(Conflict):  # the key was used on another audit
        record_decision(store, b, decision="pass", pharmacist="张", idempotency_key="k")
    assert has_block({"findings": [{"severity": "block"}]}) and not has_block({"findings": []})


def test_the_decision_log_filters_by_day_person_and_decision(store):
    a = _queued(store, _finding("warn", "RX-W"), case_id="A")
    b = _queued(store, _finding("warn", "RX-W"), case_id="B")
    record_decision(store, a, decision="override", pharmacist="李", reason="r", prescriber="王医生")
    record_decision(store, b, decision="return", pharmacist="张", reason="r")
    assert [c for _, c in decision_log(store)] == ["B", "A"]  # newest first
    assert [c for _, c in decision_log(store, person="王")] == ["A"]  # the co-signer counts
    assert [c for _, c in decision_log(store, decision="return")] == ["B"]
    assert decision_log(store, since=date(2000, 1, 1), until=date(2000, 1, 2)) == []
    assert len(decision_log(store, limit=1)) == 1
