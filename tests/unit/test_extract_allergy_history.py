"""Issue 13 (safety): a drug reaction dictated in the history reaches the record's allergies, so that the
audit flags a re-prescription of the drug or of its class. Each pattern has a case that reads and a near
case that must not (denied, hypothetical, an instruction, an improvement, a relative's allergy)."""

from __future__ import annotations

import pytest

from toolkit.extract import extract
from toolkit.visit import visit

READS = [
    ("主诉痛风复诊。既往高血压。以前吃别嘌醇起过皮疹。", "别嘌醇"),
    ("主诉咳嗽三天。吃左氧氟沙星过敏过。", "左氧氟沙星"),
    ("主诉咳嗽三天。用头孢出过疹子。", "头孢"),
    ("主诉尿痛两天。对磺胺类过敏。", "磺胺类"),
    ("主诉咽痛两天。青霉素皮试阳性过。", "青霉素"),
    ("主诉咳嗽三天。上次打头孢曲松全身起红疹。", "头孢曲松"),
    ("主诉咳嗽三天。阿莫西林过敏，吃了起风团。", "阿莫西林"),
    ("主诉关节痛。过敏史：阿司匹林吃了会喘。", "阿司匹林"),
    ("主诉咳嗽。之前输过左氧氟沙星，出了一身疹子。", "左氧氟沙星"),
    ("主诉发热。吃了布洛芬以后嘴唇肿了。", "布洛芬"),
    ("过敏史：复方新诺明吃了起过皮疹。", "复方新诺明"),
    # a reaction of this illness: read as an allergy too (see assemble._drug_reaction)
    ("主诉咳嗽三天，吃了阿莫西林以后起了皮疹。", "阿莫西林"),
    ("孩子咳嗽三天，青霉素过敏。", "青霉素"),
    ("孩子咳嗽三天。孩子妈妈说孩子青霉素过敏。", "青霉素"),  # the mother reports the child's allergy
    ("主诉咳嗽。吃了头孢以后过敏。", "头孢"),
    ("主诉咳嗽。对阿莫西林有过敏反应。", "阿莫西林"),
    ("主诉咳嗽。青霉素皮试过敏。", "青霉素"),
    # the mother's allergy is not read, the patient's own reaction to the same drug is
    ("主诉痛风。他妈妈别嘌醇过敏，他自己以前吃别嘌醇起过皮疹。", "别嘌醇"),
]


@pytest.mark.parametrize(("text", "allergen"), READS)
def test_a_drug_reaction_is_an_allergy(text: str, allergen: str) -> None:
    assert extract(text).allergies == (allergen,)


NOT_ALLERGIES = [
    "主诉咳嗽三天。没有药物过敏。",
    "主诉咳嗽三天。对什么药都不过敏。",
    "主诉咳嗽三天。否认药物过敏史。",
    "主诉咳嗽三天。对青霉素不过敏。",
    "主诉咳嗽三天。他妈妈青霉素过敏。",
    "主诉咳嗽。老伴对头孢过敏。",
    "主诉咳嗽。他爸爸吃阿司匹林会喘。",
    "主诉痛风。别嘌醇吃了两年了没有起过皮疹。",
    "主诉咳嗽，以前吃头孢没什么反应。",
    "主诉痛风。处理：别嘌醇片一百毫克一天一次，吃了以后如果起皮疹马上停药来看。",
    "主诉痛风。处理：别嘌醇片一百毫克一天一次，吃了起皮疹就停药。",
    "主诉哮喘。用了万托林就不喘了。",
    "主诉慢阻肺，用了布地格福以后喘得好多了。",
    "主诉荨麻疹，吃依巴斯汀后风团明显减少。",
    "主诉高血压，吃氨氯地平以后脚肿。",
    "现病史：心衰出院一个月，在吃缬沙坦、螺内酯、呋塞米，走一百米就喘，下肢不肿。",
    "主诉风团两天，吃了海鲜以后全身起风团。",
    "主诉咳嗽。家族史：父亲磺胺过敏。",
    "主诉咳嗽。对青霉素有没有过敏不清楚。",
    "主诉咳嗽。吃了阿莫西林以后过敏的话马上停。",
    "主诉咳嗽。青霉素皮试阴性。",
]


@pytest.mark.parametrize("text", NOT_ALLERGIES)
def test_no_allergy_of_the_patient(text: str) -> None:
    assert extract(text).allergies == ()


def test_the_allergy_said_twice_is_one_entity() -> None:
    """吃别嘌醇两周身上起了皮疹…考虑别嘌醇过敏: the allergen entity is the one of the allergy statement."""
    text = "痛风吃别嘌醇两周身上起了皮疹很痒这次考虑别嘌醇过敏"
    rec = extract(text)
    assert rec.allergies == ("别嘌醇",)
    assert [e.start for e in rec.entities if e.label.value == "allergen"] == [text.rindex("别嘌醇")]


def _allergy_findings(text: str) -> list[tuple[str, tuple[str, ...]]]:
    v = visit(text=text)
    return [
        (f.finding.severity.value, f.finding.drugs)
        for f in v.findings
        if f.finding.category.value == "allergy" and f.finding.severity.value in ("block", "warn")
    ]


def test_a_represcription_after_a_dictated_reaction_is_flagged() -> None:
    text = (
        "主诉：痛风复诊。现病史：右脚大脚趾疼两天。既往史：高血压。过敏史：以前吃别嘌醇起过皮疹。"
        "诊断：痛风。处理：别嘌醇片一百毫克一天一次口服，开四周。"
    )
    assert ("block", ("别嘌醇",)) in _allergy_findings(text)


def test_a_class_reaction_reaches_the_class() -> None:
    """阿司匹林吃了会喘 and 布洛芬 prescribed: the NSAID cross-reactivity rule of rules/allergy.yaml."""
    text = (
        "主诉：关节痛。现病史：膝关节痛一周。过敏史：阿司匹林吃了会喘。诊断：膝骨关节炎。"
        "处理：布洛芬缓释胶囊零点三克一天两次口服，开五天。"
    )
    assert any(drugs == ("布洛芬",) for _, drugs in _allergy_findings(text))


def test_no_flag_when_the_reaction_is_denied() -> None:
    text = (
        "主诉：痛风复诊。现病史：右脚大脚趾疼两天。过敏史：他妈妈别嘌醇过敏，他自己吃别嘌醇两年没有起过皮疹。"
        "诊断：痛风。处理：别嘌醇片一百毫克一天一次口服，开四周。"
    )
    assert _allergy_findings(text) == []
