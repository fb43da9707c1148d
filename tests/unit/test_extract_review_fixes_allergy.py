"""Clinical-safety review (issue 13): allergies invented from injection-site signs, from an infection's
own symptoms and from a question answered no, and plan drugs lost after a follow-up clause. Each fix has
the failing dictation and a near case that must keep working."""

from __future__ import annotations

import pytest

from toolkit.visit import visit

DM = "女，68岁。{}诊断：2型糖尿病。处理：{}"
TONSIL = "男，30岁。{}诊断：急性扁桃体炎。处理：{}"
AMOX = "阿莫西林胶囊0.5克一天三次五天。"
AZI = "阿奇霉素0.5克一天一次三天。"


def _blocks(v) -> list[str]:
    return [f.finding.rule_id for f in v.findings if f.finding.severity == "block"]


# 1. signs at the injection site (lipohypertrophy, a local reaction) are no allergy
@pytest.mark.parametrize(
    "history",
    [
        "以前打甘精胰岛素肚皮上起了疙瘩。",
        "打门冬胰岛素的地方起了红点。",
        "以前打甘精胰岛素起了疙瘩。",  # a bare lump after a drug given under the skin
        "以前打青霉素屁股上起了疙瘩。",
        "打胰岛素针眼起了红点。",
    ],
)
def test_injection_site_sign_is_no_allergy(history: str) -> None:
    v = visit(text=DM.format(history, "甘精胰岛素10个单位睡前皮下注射，注意轮换部位。"))
    assert v.record.allergies == ()
    assert "RX-ALG-001" not in _blocks(v)


@pytest.mark.parametrize(
    ("history", "allergen"),
    [
        ("以前打甘精胰岛素全身起了风团。", "甘精胰岛素"),  # wheals over the body: urticaria
        ("上次打头孢曲松全身起红疹。", "头孢曲松"),
        ("以前打青霉素起了风疙瘩。", "青霉素"),
        ("以前吃别嘌醇全身起红疹，", "别嘌醇"),
    ],
)
def test_systemic_reaction_to_an_injection_stays_an_allergy(history: str, allergen: str) -> None:
    v = visit(text=DM.format(history, "门冬胰岛素30早餐前12个单位皮下注射。"))
    assert v.record.allergies == (allergen,)


# 2. the infection's own signs after an anti-infective are no allergy
@pytest.mark.parametrize(
    "history",
    [
        "咽痛三天，自己吃阿莫西林嗓子就肿了。",
        "咳嗽三天，自己吃了阿莫西林就喘。",
        "咳嗽气喘三天，吃了阿莫西林还喘。",
    ],
)
def test_infection_sign_after_an_antibiotic_is_no_allergy(history: str) -> None:
    v = visit(text=TONSIL.format(history, AMOX))
    assert v.record.allergies == ()
    assert "RX-ALG-001" not in _blocks(v)


@pytest.mark.parametrize(
    ("text", "allergen"),
    [
        (TONSIL.format("吃阿莫西林以后嘴唇肿了。", AZI), "阿莫西林"),
        (TONSIL.format("以前吃阿莫西林喉头水肿。", AZI), "阿莫西林"),
        (TONSIL.format("以前吃阿莫西林起过皮疹。", AZI), "阿莫西林"),
        (TONSIL.format("咳嗽三天，吃了阿莫西林以后起了皮疹。", AZI), "阿莫西林"),
        ("男，40岁。用了布洛芬以后就喘，诊断：关节痛。处理：双氯芬酸钠缓释片75毫克一天一次。", "布洛芬"),
        ("男，60岁。吃氨氯地平以后脸肿。诊断：高血压。处理：缬沙坦80毫克一天一次。", "氨氯地平"),
    ],
)
def test_allergic_signs_still_read(text: str, allergen: str) -> None:
    assert visit(text=text).record.allergies == (allergen,)


def test_penicillin_rash_still_blocks_amoxicillin() -> None:
    v = visit(text=TONSIL.format("以前打青霉素出过皮疹。", AMOX))
    assert v.record.allergies == ("青霉素",)
    assert "RX-ALG-001" in _blocks(v)


# 3. an allergy asked and answered no
@pytest.mark.parametrize(
    "history",
    [
        "青霉素过敏吗？不过敏。",
        "对青霉素过敏吗？没有。",
        "问他青霉素过不过敏，说不过敏。",
        "青霉素过敏吗，他说不过敏。",
    ],
)
def test_allergy_question_answered_no(history: str) -> None:
    v = visit(text=TONSIL.format(history, AMOX))
    assert v.record.allergies == ()
    assert "RX-ALG-001" not in _blocks(v)


@pytest.mark.parametrize(
    "history",
    [
        "青霉素过敏吗？过敏。",
        "青霉素过敏吗？有，起过皮疹。",
        "青霉素过敏吗？不清楚。",  # no answer of no: the safer reading stays
        "青霉素过敏。",
    ],
)
def test_allergy_question_not_denied_stays(history: str) -> None:
    v = visit(text=TONSIL.format(history, AMOX))
    assert v.record.allergies == ("青霉素",)
    assert "RX-ALG-001" in _blocks(v)


# 4. a follow-up or advice clause inside the plan does not lose the drugs said after it
P = "女，68岁，诊断：高血压，2型糖尿病。处理："


@pytest.mark.parametrize(
    ("plan", "drugs"),
    [
        ("氨氯地平5毫克一天一次，两周后复查血压，阿托伐他汀20毫克每晚一次。", ["氨氯地平", "阿托伐他汀"]),
        ("二甲双胍0.5克一天三次，下次来再看一下脚，阿卡波糖50毫克一天三次。", ["二甲双胍", "阿卡波糖"]),
        ("氨氯地平5毫克一天一次，注意低盐饮食，阿托伐他汀20毫克每晚一次。", ["氨氯地平", "阿托伐他汀"]),
    ],
)
def test_drug_after_follow_up_clause_is_kept(plan: str, drugs: list[str]) -> None:
    v = visit(text=P + plan)
    assert [it.drug for it in v.items] == drugs
    names = [s.name for s in v.record.sections]
    assert names.count("处理") == 2 and ("随访" in names or "健康指导" in names)


@pytest.mark.parametrize(
    "plan",
    [
        "氨氯地平5毫克一天一次，两周后复查血压。嘱低盐饮食。",
        "氨氯地平5毫克一天一次，两周后复查血压，以前吃过阿托伐他汀20毫克每晚一次。",
    ],
)
def test_follow_up_without_a_new_plan_drug(plan: str) -> None:
    v = visit(text=P + plan)
    assert [it.drug for it in v.items] == ["氨氯地平"]
    assert "随访" in [s.name for s in v.record.sections]


# LOW: a skin test said as 不过敏 is the result, not a prescription of the allergen
def test_skin_test_not_allergic_is_a_result() -> None:
    v = visit(text=TONSIL.format("", "青霉素皮试不过敏，" + AMOX))
    assert [(it.drug, it.skin_test) for it in v.items] == [("阿莫西林胶囊", "阴性")]


def test_skin_test_conditional_is_no_result() -> None:
    v = visit(text=TONSIL.format("", "阿莫西林胶囊0.5克一天三次五天，皮试不过敏的话再用。"))
    assert [(it.drug, it.skin_test) for it in v.items] == [("阿莫西林胶囊", None)]
