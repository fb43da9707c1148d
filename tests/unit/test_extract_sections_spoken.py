"""Issue 13, the visit: record sections read the way doctors dictate them — the reason of a follow-up
visit as the 主诉 (with or without a pause after it), a 主诉 of symptom + duration in hours or 十来天,
allergy negatives said without the section's name, colloquial or misheard section names, and the plan
said first with the history after it; in unsectioned dictations, bare allergy negatives (也不过敏), the past
history said without a disease (其他没病, 没什么基础病), the story of a follow-up visit, and the examination said
as the doctor's act (听了一下肺没啥). Each reading has a case that reads and a near case that must not."""

from __future__ import annotations

import pytest

from toolkit.extract import extract
from toolkit.visit import visit


def _sections(text: str) -> dict[str, str]:
    return extract(text).section_texts()


def _names(text: str) -> list[str]:
    return [s.name for s in extract(text).sections]


# --------------------------------------------------------------------------- follow-up reason as 主诉


def test_follow_up_reason_before_a_pause_in_a_transcript_is_the_chief_complaint() -> None:
    text = (
        "老慢支慢阻肺的老病人来拿药 这段时间稍微走快一点就喘 痰不多 没有发热 既往高血压不吃药了 "
        "过敏史没有 查体两肺呼吸音低 诊断慢性阻塞性肺疾病稳定期 处理思力华十八微克一天一次吸入"
    )
    s = _sections(text)
    assert s["主诉"] == "老慢支慢阻肺的老病人来拿药"
    assert s["现病史"].startswith("这段时间")


def test_a_drug_prescribed_elsewhere_is_not_a_follow_up_reason() -> None:
    text = "干燥综合征合并甲减风湿科开的药在吃促甲状腺激素4.2甲状腺功能减退症左甲状腺素钠片五十微克每日一次"
    assert "主诉" not in _sections(text)


def test_follow_up_reason_without_a_pause_runs_over_the_diseases_checked() -> None:
    s = _sections("嗯老周今天来是复查高血压和糖尿病他说最近早上起来有点头晕血糖自己测空腹七点几")
    assert s["主诉"] == "嗯老周今天来是复查高血压和糖尿病"
    assert s["现病史"].startswith("他说最近")


def test_diseases_after_a_drug_fetched_are_not_part_of_the_reason() -> None:
    s = _sections("来开药高血压糖尿病都好多年了最近血压血糖都还行血压一百三十六七十八")
    assert s["主诉"] == "来开药"
    assert "高血压糖尿病" in s["现病史"]


# --------------------------------------------------------------------------- symptom + duration


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("胸痛半小时今天早上搬东西以后出现胸闷出汗", "胸痛半小时"),
        ("咳嗽十来天感冒好了以后一直咳嗽白天少晚上多", "咳嗽十来天"),
        ("头晕三天来看 血压一百六十九十五", "头晕三天来看"),
    ],
)
def test_symptom_with_its_duration_opens_the_record_as_chief_complaint(text: str, complaint: str) -> None:
    assert _sections(text)["主诉"] == complaint


def test_a_duration_since_is_the_history_not_a_complaint() -> None:
    assert _names("三天来一直咳嗽 痰多") == ["现病史"]


# --------------------------------------------------------------------------- allergy said as a negative


@pytest.mark.parametrize(
    "said",
    [
        "也没有对什么药过敏",
        "对什么药都不过敏",
        "药物过敏没有",
        "过敏的话没有",
        "否认药物过敏史",
        "对别嘌醇不过敏",
    ],
)
def test_an_allergy_negative_fills_the_allergy_section_without_an_allergen(said: str) -> None:
    rec = extract(f"咳嗽三天 {said} 查体咽红")
    assert said in rec.section_texts()["过敏史"]
    assert rec.allergies == ()


def test_no_allergic_reaction_in_the_plan_is_not_the_allergy_history() -> None:
    text = "咳嗽三天 查体咽红 诊断急性咽炎 阿莫西林胶囊0.5克一天三次 吃了三天没有过敏反应的话继续"
    assert "过敏史" not in _sections(text)


def test_a_past_drug_reaction_is_the_allergy_history() -> None:
    text = "尿频、尿急三天。伴下腹痛，没有发热。以前吃左氧氟沙星起过皮疹。尿常规白细胞加二。急性膀胱炎。"
    assert _sections(text)["过敏史"] == "以前吃左氧氟沙星起过皮疹"


def test_a_drug_reaction_of_this_illness_is_the_present_history() -> None:
    text = "皮疹两天 吃了阿莫西林以后起了皮疹 查体躯干红疹 诊断药疹 氯雷他定片十毫克一天一次"
    assert "过敏史" not in _sections(text)


# --------------------------------------------------------------------------- section names said colloquially


def test_colloquial_and_misheard_section_names_open_their_sections() -> None:
    text = (
        "主述胸闷一周 现在的情况是活动后加重 体查双肺呼吸音清 辅查心电图正常 初步诊断冠心病 "
        "处置阿司匹林一百毫克一天一次"
    )
    assert _names(text) == ["主诉", "现病史", "体格检查", "辅助检查", "诊断", "处理"]
    s = _sections(
        "头晕一周 以前有高血压病 药物过敏没有 查体血压一百五十九十 诊断高血压 用药上氨氯地平五毫克一天一次"
    )
    assert s["处理"].startswith("用药上")
    assert _names("咳嗽三天 查题咽红 诊断急性咽炎") == ["主诉", "体格检查", "诊断"]  # 查体 as ASR hears it
    # 体检查出来血脂高: a health check of the history, not the examination
    assert "体格检查" not in _names("体检查出来血脂高喝酒应酬多")


def test_the_complaint_said_without_its_name_opens_only_the_dictation() -> None:
    assert _names("这次来主要是因为晚上老是咳嗽睡不好觉白天还好 查体咽红") == ["主诉", "体格检查"]
    # said inside the history it is the history
    assert _names("咳嗽三天 她说这次主要是晚上咳得厉害 查体咽红") == ["主诉", "现病史", "体格检查"]


# --------------------------------------------------------------------------- examination said without 查体


@pytest.mark.parametrize(
    ("text", "exam"),
    [
        (
            "搬东西扭到腰两天。腰痛，不往腿上放射。腰部肌肉紧张，压痛，直腿抬高试验阴性。急性腰扭伤。",
            "腰部肌肉紧张，压痛，直腿抬高试验阴性",
        ),
        (
            "右踝扭伤一天。昨天打球崴了脚，有点肿。右外踝轻度肿胀压痛，无骨擦感。右踝关节扭伤。",
            "右外踝轻度肿胀压痛，无骨擦感",
        ),
        ("嗓子疼三天没发烧吞咽时疼咽后壁淋巴滤泡增生急性咽炎", "咽后壁淋巴滤泡增生"),
    ],
)
def test_signs_only_an_examination_finds_open_the_examination(text: str, exam: str) -> None:
    assert _sections(text)["体格检查"] == exam


def test_a_sign_named_after_the_plan_does_not_reopen_the_examination() -> None:
    text = "腰痛两天 诊断急性腰扭伤 洛索洛芬钠片六十毫克一天三次 腰部压痛明显的话热敷"
    assert "体格检查" not in _sections(text)


def test_a_plan_without_drugs_is_the_plan() -> None:
    text = "右踝扭伤一天。右外踝轻度肿胀压痛。右踝关节扭伤。冷敷四十八小时后再热敷，抬高患肢，不用开药。"
    assert _sections(text)["处理"].startswith("冷敷")


def test_no_drug_prescribed_is_no_plan_that_takes_a_drug_at_home_as_prescribed() -> None:
    text = "腰痛两天 腰部肌肉紧张压痛 急性腰扭伤 不用开药家里有布洛芬疼得厉害可以吃两天 先卧床休息"
    assert extract(text).items == ()


# --------------------------------------------------------------------------- the plan said first


def test_history_told_after_the_plan_opens_its_sections_and_leaves_the_plan_whole() -> None:
    text = (
        "开三个药：感冒清热颗粒一次一袋，一天两次，开水冲服；右美沙芬十五毫克一天三次，这两个都开五天；"
        "对乙酰氨基酚零点五克，发烧的时候吃。受凉后鼻塞、流涕、咳嗽三天，低热，浑身没劲。体温三十七度五，"
        "咽红。急性上呼吸道感染。"
    )
    rec = extract(text)
    names = [s.name for s in rec.sections]
    assert names[0] == "处理" and "体格检查" in names and names[-1] == "诊断"
    assert "开三个药" in rec.section_texts()["处理"]  # the opening words of the plan are no 主诉
    assert [it.days for it in rec.items] == [5.0, 5.0, None]  # 咳嗽三天 is not the antipyretic's course


@pytest.mark.parametrize(
    "advice", ["如果咳嗽三天不好再来 体温超过三十八度五再来", "咳嗽三天不好再来 体温三十八度五以上再来"]
)
def test_a_symptom_said_as_advice_after_the_plan_does_not_reopen_the_history(advice: str) -> None:
    names = _names(f"诊断急性支气管炎 阿莫西林胶囊0.5克一天三次吃七天 {advice}")
    assert not {"主诉", "现病史", "体格检查"} & set(names)


def test_the_onset_of_a_symptom_told_after_the_plan_is_the_history() -> None:
    text = (
        "先开药：奥司他韦胶囊七十五毫克，一天两次，吃五天。昨天开始高热，全身酸痛，头痛。"
        "流感抗原甲型阳性。甲型流感。"
    )
    assert _names(text)[:2] == ["处理", "现病史"]
    # 从今天开始每天测血压: advice, no symptom begins there
    assert "现病史" not in _names("诊断高血压 氨氯地平五毫克一天一次 从今天开始每天测血压 高血压")


def test_a_drug_line_alone_is_not_a_chief_complaint() -> None:
    assert _names("开药 二甲双胍0.5g tid") == ["处理"]


# --------------------------------------------------------------------------- the record check


def test_the_record_check_counts_a_said_negative_and_a_follow_up_reason_as_present() -> None:
    v = visit(
        "王阿姨今天是来复查血压的 说最近在家量的都是一百四上下 她平时没有糖尿病也没有心脏病 "
        "也没有对什么药过敏 今天量了血压一百四十六八十八 心率七十六 考虑还是高血压 "
        "改成缬沙坦八十毫克一天一次 先开两周"
    )
    missing = [f.finding.evidence.get("missing", []) for f in v.findings if f.finding.rule_id == "RX-REC-001"]
    assert not any("主诉" in m or "过敏史" in m for m in missing)


def test_the_record_check_still_reports_an_allergy_history_never_said() -> None:
    v = visit(
        "王阿姨今天是来复查血压的 说最近在家量的都是一百四上下 她平时没有糖尿病也没有心脏病 "
        "今天量了血压一百四十六八十八 心率七十六 考虑还是高血压 改成缬沙坦八十毫克一天一次 先开两周"
    )
    missing = [f.finding.evidence.get("missing", []) for f in v.findings if f.finding.rule_id == "RX-REC-001"]
    assert any("过敏史" in m for m in missing)


# --------------------------------------------------------------------------- unsectioned dictations (round 2)


@pytest.mark.parametrize(
    "said",
    ["也不过敏", "药物不过敏", "啥也不过敏", "对药不过敏", "啥药都不过敏", "青霉素不过敏"],
)
def test_a_bare_allergy_negative_in_the_history_fills_the_allergy_section(said: str) -> None:
    rec = extract(
        f"老李六十岁，头晕一周，血压在家一百五十多，以前有高血压，{said}。血压一百五十二九十。高血压。"
    )
    assert rec.section_texts()["过敏史"] == said
    assert rec.allergies == ()


@pytest.mark.parametrize(
    "plan_words",
    ["吃了不过敏的话继续", "先皮试不过敏再用", "如果不过敏就吃完"],
)
def test_an_allergy_negative_said_of_the_drug_prescribed_is_not_the_allergy_history(plan_words: str) -> None:
    text = f"咳嗽三天，查体咽红。急性咽炎。阿莫西林胶囊零点五克一天三次吃五天，{plan_words}。"
    assert "过敏史" not in _sections(text)


def test_a_drug_tolerated_this_illness_is_not_the_allergy_history() -> None:
    s = _sections("咳嗽两天，上次开的阿莫西林吃了不过敏，查体咽红。急性咽炎。")
    assert "过敏史" not in s


def test_a_drug_tolerated_in_the_past_is_the_allergy_history() -> None:
    s = _sections("发热一天，三十八度五，以前吃头孢不过敏，其他没病。咽红。急性扁桃体炎。")
    assert s["过敏史"] == "以前吃头孢不过敏"
    assert s["既往史"] == "其他没病"


def test_an_allergy_negative_in_an_unpunctuated_transcript_starts_at_its_own_words() -> None:
    text = "王阿姨五十八岁糖尿病六年最近空腹血糖八点几以前没有别的慢性病也不过敏看了一下脚足背动脉搏动好考虑二型糖尿病"
    s = _sections(text)
    assert s["过敏史"] == "也不过敏"
    assert s["既往史"] == "以前没有别的慢性病"
    assert s["主诉"].startswith("王阿姨")


@pytest.mark.parametrize(
    ("said", "history"),
    [
        ("以前没有别的慢性病", "以前没有别的慢性病"),
        ("其他没病", "其他没病"),
        ("别的没啥病", "别的没啥病"),
        ("没什么基础病", "没什么基础病"),
        ("身体一向挺好", "身体一向挺好"),
    ],
)
def test_the_past_history_said_without_a_disease_named_opens_the_past_history(
    said: str, history: str
) -> None:
    rec = extract(f"周先生四十五岁，咳嗽五天，有点痰，{said}，药物过敏没有。咽部充血。急性支气管炎。")
    assert rec.section_texts()["既往史"] == history


def test_no_past_history_is_read_from_a_virus_nor_after_the_plan() -> None:
    assert "既往史" not in _sections("咳嗽三天，以前没有病毒感染过，查体咽红。急性咽炎。")
    text = "发热两天，查体咽红，诊断上感，对乙酰氨基酚零点五克发热时吃，其他没病就不用管。"
    assert "既往史" not in _sections(text)


def test_a_disease_denied_right_before_the_allergy_negative_is_the_past_history() -> None:
    s = _sections("胃疼两天，没有胃病，不过敏。上腹部压痛。急性胃炎。")
    assert s["既往史"] == "没有胃病"
    assert s["体格检查"] == "上腹部压痛"
    # denied in the story, with no history said after it, it stays the 现病史
    assert "既往史" not in _sections("胃疼两天，没有发烧，没有胃病。上腹部压痛。急性胃炎。")


def test_the_value_after_a_follow_up_reason_and_its_story_are_the_present_history() -> None:
    text = (
        "刘师傅来复查血脂，低密度三点四，吃着瑞舒伐他汀十毫克，不疼不痒，以前有高血压，啥也不过敏。"
        "查体心率七十二。高脂血症。瑞舒伐他汀钙片十毫克每晚一次，开四周。"
    )
    s = _sections(text)
    assert s["主诉"] == "刘师傅来复查血脂"
    assert s["现病史"] == "低密度三点四，吃着瑞舒伐他汀十毫克，不疼不痒"  # 吃着: the drug taken, no plan
    assert s["处理"].startswith("瑞舒伐他汀钙片")
    # said alone before the diagnosis, the value is the examination of the record (辅助检查)
    s = _sections("刘师傅来复查血脂，低密度三点四。高脂血症。瑞舒伐他汀钙片十毫克每晚一次，开四周。")
    assert "低密度三点四" in s["辅助检查"] and "现病史" not in s


def test_a_short_story_after_the_complaint_is_the_present_history() -> None:
    assert _sections("患者咳嗽一周，痰黄，青霉素过敏。听了一下肺没啥。急性支气管炎。")["现病史"] == "痰黄"
    assert _names("头晕三天来看 血压一百六十九十五") == ["主诉", "体格检查"]


@pytest.mark.parametrize(
    ("said", "exam"),
    [
        ("看了一下脚，足背动脉搏动好", "看了一下脚，足背动脉搏动好"),
        ("听了一下肺没啥，咽有点红", "听了一下肺没啥，咽有点红"),
        ("摸了一下肚子，软的", "摸了一下肚子，软的"),
    ],
)
def test_the_examination_said_as_the_doctors_act_opens_the_examination(said: str, exam: str) -> None:
    s = _sections(f"张阿姨五十八岁，咳嗽三天，以前没什么病，也不过敏。{said}。急性支气管炎。")
    assert s["体格检查"] == exam


@pytest.mark.parametrize("said", ["去诊所看了一下嗓子说没事", "自己看了一下脚有点肿"])
def test_a_look_told_by_the_patient_is_the_history_not_the_examination(said: str) -> None:
    s = _sections(f"头痛两天，{said}，以前没有高血压。血压一百二十八十。紧张性头痛。")
    assert "体格检查" in s and said not in s["体格检查"]


def test_the_word_saying_the_diagnosis_belongs_to_the_diagnosis() -> None:
    s = _sections(
        "头晕一周，以前有高血压，不过敏。听了一下心肺没啥。考虑原发性高血压。氨氯地平五毫克一天一次。"
    )
    assert s["体格检查"] == "听了一下心肺没啥"
    assert s["诊断"] == "考虑原发性高血压"


def test_a_persistent_condition_is_not_a_continued_prescription() -> None:
    text = "房颤的病人复诊今天INR一点七持续性心房颤动华法林钠片三毫克一天一次开两周"
    assert _sections(text)["诊断"] == "持续性心房颤动"


def test_the_record_check_passes_an_unsectioned_clean_visit() -> None:
    v = visit(
        "赵女士四十岁，咳嗽五天，有点痰，不发烧，平时身体还行，没有胃病，不过敏。听了一下肺没啥，咽有点红。"
        "急性支气管炎。氨溴索片三十毫克一天三次，吃五天。"
    )
    assert not [f for f in v.findings if f.finding.rule_id == "RX-REC-001"]


def test_nothing_else_said_after_the_examination_is_the_examinations_negative() -> None:
    s = _sections("咳嗽三天，以前没有高血压，不过敏。查体咽红，其他没什么毛病。急性咽炎。")
    assert s["体格检查"] == "查体咽红，其他没什么毛病"
    assert s["既往史"] == "以前没有高血压"


def test_a_test_of_the_heart_told_in_the_history_is_no_examination() -> None:
    s = _sections(
        "胸闷一周，上个月查了一下心电图没事，以前没有别的病，不过敏。听了一下心脏没杂音。冠心病待排。"
    )
    assert s["体格检查"] == "听了一下心脏没杂音"
    assert "心电图" not in s["体格检查"]


def test_nothing_else_said_after_a_value_of_the_history_is_the_past_history() -> None:
    text = "张阿姨五十八岁，糖尿病六年，最近空腹血糖八点几，没有低血糖，其他没病，药物不过敏。看了一下脚。二型糖尿病。"
    assert _sections(text)["既往史"] == "其他没病"
