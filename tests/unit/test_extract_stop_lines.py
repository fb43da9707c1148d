"""Clinical-safety review: drug mentions that are no prescription line (a drug stopped or switched away said
before or after its name, the drug a new one is added to, a home drug told in the history) gave a false
duplicate-therapy warning (RX-DUP-002) with the drug that replaces them. The stop words are those
:mod:`toolkit.extract.current_meds` reads for home drugs."""

from __future__ import annotations

import pytest

from toolkit.extract.records import ExtractedItem
from toolkit.visit import visit

P = "女，68岁，诊断：高血压，2型糖尿病。处理："


def _items(text: str) -> list[ExtractedItem]:
    return list(visit(text=text).items)


def _drugs(text: str) -> list[str]:
    return [it.drug for it in _items(P + text)]


def _rules(text: str) -> set[str]:
    return {f.finding.rule_id for f in visit(text=text).findings}


# 1. a drug stopped or switched away, the stop said before or after it: no line, no duplicate warning
@pytest.mark.parametrize(
    "text",
    [
        "硝苯地平暂不服用，氨氯地平五毫克一天一次。",
        "氨氯地平五毫克一天一次，硝苯地平暂不服用。",
        "硝苯地平，暂不服用，氨氯地平五毫克一天一次。",
        "不再服用硝苯地平，氨氯地平五毫克一天一次。",
        "硝苯地平改氨氯地平五毫克一天一次。",
        "硝苯地平换氨氯地平五毫克一天一次。",
        "以氨氯地平代替硝苯地平，氨氯地平五毫克一天一次。",
        "以氨氯地平五毫克一天一次代替硝苯地平。",
        "去掉硝苯地平，氨氯地平五毫克一天一次。",
        "硝苯地平先停一下，氨氯地平五毫克一天一次。",
    ],
)
def test_stopped_or_switched_away_is_no_line(text: str) -> None:
    assert _drugs(text) == ["氨氯地平"]
    assert "RX-DUP-002" not in _rules(P + text)


# 2. the drug a new one is added to, said with no sig of its own, is context; with its own sig it is a line
@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        ("在二甲双胍基础上加用西格列汀一百毫克一天一次。", ["西格列汀"]),
        ("在原来二甲双胍的基础上加用西格列汀一百毫克一天一次。", ["西格列汀"]),
        ("二甲双胍基础上加用西格列汀一百毫克一天一次。", ["西格列汀"]),
        # must not change: the base drug said with its own sig stays a line
        ("在二甲双胍零点五克一天三次基础上加用西格列汀一百毫克一天一次。", ["二甲双胍", "西格列汀"]),
    ],
)
def test_base_drug_without_sig_is_context(text: str, drugs: list[str]) -> None:
    assert _drugs(text) == drugs


def test_base_drug_still_audited_for_interactions() -> None:
    """The base drug is no line, but it is taken now: a current medication (current_meds reads 'X基础上'),
    so warfarin + aspirin is still found (it was while the base drug was a line)."""
    text = "女，68岁，诊断：房颤，冠心病。处理：在华法林基础上加用阿司匹林一百毫克一天一次。"
    assert "RX-DDI-021" in _rules(text)


# 3. a home drug told in the history with a present marker is no line (current_meds reads it: the
# interaction with the drug prescribed is still found)
def test_home_drug_in_history_is_no_line() -> None:
    text = (
        "女，68岁。现病史：冠心病支架术后，波立维每天一片一直在吃。诊断：冠心病。"
        "处理：阿司匹林一百毫克一天一次。"
    )
    assert [it.drug for it in _items(text)] == ["阿司匹林"]
    assert "RX-DDI-041" in _rules(text)  # clopidogrel (current) + aspirin (prescribed)


def test_home_drug_in_history_gives_no_duplicate_with_its_prescription() -> None:
    text = (
        "女，68岁。现病史：冠心病支架术后，波立维每天一片一直在吃。诊断：冠心病。"
        "处理：氯吡格雷七十五毫克一天一次。"
    )
    assert [it.drug for it in _items(text)] == ["氯吡格雷"]
    assert not {"RX-DUP-001", "RX-DUP-002"} & _rules(text)


# must not change: a drug stopped and prescribed again with a new sig, kept, or changed in dose is a line
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # X先停，改成一克…: stopped, then re-prescribed with the new sig
        ("二甲双胍先停，改成一克一天两次。", [("二甲双胍", 1.0, "bid")]),
        (
            "二甲双胍先停，改成一克一天两次，阿卡波糖五十毫克一天三次。",
            [("二甲双胍", 1.0, "bid"), ("阿卡波糖", 50.0, "tid")],
        ),
        # X改成一克: the same drug, a new dose
        ("二甲双胍改成一克一天两次。", [("二甲双胍", 1.0, "bid")]),
        ("不要停阿司匹林，继续一百毫克一天一次。", [("阿司匹林", 100.0, "qd")]),
        # a stop with a resume and a sig after it is a line; with no sig it is no line (nothing prescribed
        # now: conservative, and so no duplicate with the drug that replaces it)
        ("停用二甲双胍一周后再吃，零点五克一天两次。", [("二甲双胍", 0.5, "bid")]),
        ("停用二甲双胍一周后再吃。", []),
        # X停用，改Y: X stopped, Y the line
        ("硝苯地平停用，改氨氯地平五毫克一天一次。", [("氨氯地平", 5.0, "qd")]),
        ("二甲双胍先停，阿卡波糖五十毫克一天三次。", [("阿卡波糖", 50.0, "tid")]),
    ],
)
def test_restarted_or_kept_stays_a_line(text: str, expected: list[tuple[str, float, str]]) -> None:
    assert [(it.drug, it.dose, it.frequency) for it in _items(P + text)] == expected


# must not change: what is not a stop of the line
@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        ("硝苯地平不要停，氨氯地平五毫克一天一次。", ["硝苯地平", "氨氯地平"]),  # keep taking it
        ("硝苯地平，头晕的时候不吃，氨氯地平五毫克一天一次。", ["硝苯地平", "氨氯地平"]),  # a condition
        # (fixed too: 不再服用 said before a drug is its stop, not the line before's)
        ("华法林继续吃，不再服用阿司匹林。", ["华法林"]),
        ("二甲双胍不用停，阿卡波糖五十毫克一天三次。", ["二甲双胍", "阿卡波糖"]),  # no need to stop
        ("二甲双胍，暂不调整。", ["二甲双胍"]),  # 暂不 said of the dose, not of taking it
        ("硝苯地平不行的话再换氨氯地平五毫克一天一次。", ["硝苯地平", "氨氯地平"]),  # a switch on a condition
        ("氨氯地平继续吃，加用氢氯噻嗪十二点五毫克一天一次。", ["氨氯地平", "氢氯噻嗪"]),
    ],
)
def test_no_stop_keeps_the_line(text: str, drugs: list[str]) -> None:
    assert _drugs(text) == drugs


def test_present_marker_in_the_plan_stays_a_line() -> None:
    # a said 处理 header: the doctor lists it in the plan (only inferred plans drop a home drug told there)
    assert _drugs("阿司匹林一百毫克一天一次一直在吃，氯吡格雷七十五毫克一天一次。") == [
        "阿司匹林",
        "氯吡格雷",
    ]


def test_home_drug_told_in_an_inferred_plan_is_no_line() -> None:
    # no section said: the splitter reads it all as the plan; 吃着 tells the home dose, 改成 the new one
    text = "男，70岁，房颤，华法林三毫克吃着，这次INR一点六，偏低。华法林改成一点五毫克，每天一次，开两周。"
    assert [(it.drug, it.dose, it.frequency) for it in _items(text)] == [("华法林", 1.5, "qd")]


def test_home_drug_told_and_kept_on_stays_a_line() -> None:
    text = "男，70岁，高血压，氨氯地平五毫克一天一次一直在吃，继续吃，加用氢氯噻嗪十二点五毫克一天一次。"
    assert [it.drug for it in _items(text)] == ["氨氯地平", "氢氯噻嗪"]


def test_drug_switched_for_intolerance_is_no_line() -> None:
    assert _drugs("阿托伐他汀不耐受，换依折麦布十毫克一天一次。") == ["依折麦布"]
