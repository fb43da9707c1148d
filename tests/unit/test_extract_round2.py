"""Issue 13, round 2 of the visit extraction: a statement for all lines fills only what a line left
unsaid and goes on after a comma (都口服，开四周); drugs named together share the sig said after them
(X和Y开四周); a drug told in the history and prescribed later is the prescribed line; allergies with words
between the substance and 过敏 and the audit's own allergen names (盘尼西林); the past history said without
its name (平时身体挺好, 以前没有高血压糖尿病); a past diagnosis told in the history (一年前诊断…) opens no
诊断; advice (生理盐水洗鼻) is not a line; two names of one ingredient each with its own sig are two lines.
Each rule has a case that fires and one that must not."""

from __future__ import annotations

import pytest

from toolkit.extract import extract


def _items(text: str) -> list[dict[str, object]]:
    return [
        it.model_dump(include={"drug", "drug_id", "dose", "unit", "frequency", "route", "days"})
        for it in extract(text).items
    ]


def _sections(text: str) -> list[str]:
    return [s.name for s in extract(text).sections]


# --------------------------------------------------------------------------- statements for all lines


def test_all_lines_route_fills_only_lines_without_one() -> None:
    text = (
        "主诉 活动后胸闷一年 现病史 快走时胸闷 含硝酸甘油两三分钟能缓解 诊断 稳定型心绞痛 处理 "
        "单硝酸异山梨酯缓释片六十毫克 每天早上一次 比索洛尔五毫克 一天一次 以上口服 都开四周 "
        "硝酸甘油片零点五毫克 胸痛的时候舌下含服一片 必要时 也开四周"
    )
    items = _items(text)
    assert [it["drug_id"] for it in items] == ["isosorbide_mononitrate", "bisoprolol", "nitroglycerin"]
    assert [it["route"] for it in items] == ["口服", "口服", "舌下含服"]
    assert all(it["days"] == 28.0 for it in items)


@pytest.mark.parametrize("cue", ["都口服，开四周", "均口服，开四周", "以上都是口服，都开四周"])
def test_all_lines_course_after_a_comma(cue: str) -> None:
    items = _items(f"诊断 高血压 处理 氨氯地平五毫克 一天一次 美托洛尔二十五毫克 一天两次 {cue}")
    assert [(it["route"], it["days"]) for it in items] == [("口服", 28.0), ("口服", 28.0)]


def test_course_after_a_comma_without_a_cue_is_the_last_lines_own() -> None:
    items = _items("诊断 高血压 处理 氨氯地平五毫克 一天一次 口服 美托洛尔二十五毫克 一天两次 口服，开四周")
    assert [it["days"] for it in items] == [None, 28.0]


def test_drugs_named_together_share_the_course() -> None:
    text = "诊断 高血压 处理 氨氯地平五毫克 一天一次 口服 美托洛尔二十五毫克 一天两次 口服 氨氯地平和美托洛尔开四周"
    items = _items(text)
    assert [it["drug_id"] for it in items] == ["amlodipine", "metoprolol"]
    assert [it["days"] for it in items] == [28.0, 28.0]


def test_drug_named_alone_keeps_its_own_course() -> None:
    items = _items(
        "诊断 高血压 处理 氨氯地平五毫克 一天一次 口服 开四周 美托洛尔二十五毫克 一天两次 口服 开两周"
    )
    assert [it["days"] for it in items] == [28.0, 14.0]


# --------------------------------------------------------------------------- history mentions


def test_history_mention_is_not_the_item() -> None:
    items = _items("诊断 冠心病 含硝酸甘油两三分钟能缓解 处理 硝酸甘油片零点五毫克 胸痛时舌下含服")
    assert len(items) == 1
    assert items[0]["drug"] == "硝酸甘油片" and items[0]["route"] == "舌下含服"


def test_past_diagnosis_in_history_opens_no_diagnosis() -> None:
    text = "主诉 胸闷一年 现病史 一年前诊断冠心病心绞痛 最近稳定 含硝酸甘油能缓解 诊断 冠心病 处理 比索洛尔五毫克 一天一次"
    assert _sections(text).count("诊断") == 1
    assert [it["drug_id"] for it in _items(text)] == ["bisoprolol"]


def test_diagnosis_cue_itself_still_opens_diagnosis() -> None:
    assert "诊断" in _sections(
        "主诉 头晕三天 查体 血压一百六十九十五 诊断 高血压 处理 氨氯地平五毫克 一天一次"
    )


# --------------------------------------------------------------------------- allergies


@pytest.mark.parametrize(
    ("text", "allergen"),
    [
        ("过敏史 小时候打盘尼西林过敏 起过疹子", "盘尼西林"),
        ("过敏史 盘尼西林打了过敏", "盘尼西林"),
        ("过敏史 阿司匹林一吃就过敏", "阿司匹林"),
        ("过敏史 对青霉素过敏", "青霉素"),
        ("过敏史 吃头孢过敏过", "头孢"),
    ],
)
def test_allergy_read(text: str, allergen: str) -> None:
    assert allergen in extract(text).allergies


@pytest.mark.parametrize(
    "text",
    [
        "过敏史 否认盘尼西林过敏",
        "过敏史 没有青霉素过敏",
        "过敏史 对青霉素没有过敏",
        "青霉素不过敏",
        "过敏史 没有打青霉素过敏",
    ],
)
def test_denied_allergy_stays_negative(text: str) -> None:
    assert extract(text).allergies == ()


def test_allergy_word_in_plan_advice_is_no_allergy() -> None:
    rec = extract("诊断 支气管炎 处理 阿莫西林胶囊零点五克 一天三次 口服 吃了过敏就停")
    assert rec.allergies == ()
    assert [it.drug_id for it in rec.items] == ["amoxicillin"]


# --------------------------------------------------------------------------- past history said freely


@pytest.mark.parametrize(
    "text",
    [
        "小伙子腰疼三天来看的。三天前搬东西扭了腰，弯腰疼。平时身体挺好，没有胃病。没有药物过敏。诊断急性腰扭伤。",
        "血脂高一个月。复查低密度还是四点七。以前没有高血压糖尿病，也没有药物过敏。血压一百二十二七十四。诊断高胆固醇血症。",
    ],
)
def test_past_history_said_without_its_name(text: str) -> None:
    assert "既往史" in _sections(text)


def test_recent_course_is_not_past_history() -> None:
    assert "既往史" not in _sections("咳嗽三天。最近没有发烧，痰不多。诊断急性支气管炎。")


def test_denied_list_in_past_history_opens_no_diagnosis() -> None:
    rec = extract(
        "血脂高一个月。以前没有高血压糖尿病，也没有药物过敏。血压一百二十二七十四。诊断高胆固醇血症。"
    )
    assert [d.name for d in rec.diagnoses] == ["高胆固醇血症"]


# --------------------------------------------------------------------------- advice is not a line


def test_advice_use_is_not_a_line() -> None:
    items = _items("诊断 急性鼻窦炎 处理 阿莫西林胶囊零点五克 一天三次 口服 吃七天 生理盐水洗鼻")
    assert [it["drug_id"] for it in items] == ["amoxicillin"]


def test_saline_with_a_sig_is_a_line() -> None:
    items = _items("诊断 脱水 处理 生理盐水五百毫升 静脉滴注 一天一次")
    assert len(items) == 1 and items[0]["route"] is not None


# --------------------------------------------------------------------------- brand and generic


def test_brand_and_generic_each_with_its_sig_are_two_lines() -> None:
    items = _items(
        "诊断 高血压 处理 络活喜五毫克 一天一次 口服 再加苯磺酸氨氯地平片五毫克 一天一次 口服 都开四周"
    )
    assert [it["drug_id"] for it in items] == ["amlodipine", "amlodipine"]
    assert all(it["days"] == 28.0 for it in items)


def test_brand_said_as_the_generic_is_one_line() -> None:
    items = _items("诊断 腰扭伤 处理 开芬必得，就是布洛芬缓释胶囊，零点三克，一天两次，饭后口服，吃五天")
    assert len(items) == 1 and items[0]["dose"] == 0.3


def test_advice_mention_of_a_prescribed_drug_is_no_line() -> None:
    items = _items("诊断 慢阻肺 处理 信必可都保 每次两吸 一天两次 吸入 都开四周 用完信必可要漱口")
    assert len(items) == 1 and items[0]["frequency"] == "bid"


def test_product_made_for_the_use_stays_a_line() -> None:
    items = _items("诊断 咽炎 处理 复方氯己定含漱液漱口")
    assert len(items) == 1


def test_history_use_words_after_a_said_route_keep_the_line() -> None:
    items = _items("诊断 咽炎 处理 阿莫西林胶囊 口服 效果不好再来")
    assert [it["drug_id"] for it in items] == ["amoxicillin"]


def test_dose_said_for_each_of_drugs_named_together() -> None:
    items = _items("诊断 冠心病 处理 阿司匹林和氯吡格雷各一片 一天一次 口服")
    assert [(it["dose"], it["frequency"]) for it in items] == [(1.0, "qd"), (1.0, "qd")]


def test_dose_said_after_drugs_named_together_without_each_is_the_last_ones() -> None:
    items = _items("诊断 冠心病 处理 阿司匹林和氯吡格雷七十五毫克 一天一次 口服")
    assert [it["dose"] for it in items] == [None, 75.0]
