"""Issue 13, round 3 of the visit extraction (errors of the blind test5 scoring): a combination strength
read without a unit (舒利迭50/250的) or said with 加 (规格一百五加十二点五的) takes the unit of the one listed
combination with those amounts; a single amount said as 规格 or as "X的" before the count of tablets
(四十七点五的，一次一片) takes the unit of the listed strength it matches; a volume is not the dose of a
tablet, and the water drunk (每天喝两千毫升水) is no dose at all, so the amount said for the tablet stays
its dose; 开水冲服 is an oral route; a route closed by a clause end (…皮下注射；) is its own line's (test6).
Each rule has a case that changes and one that must not."""

from __future__ import annotations

import pytest

from toolkit.extract import extract


def _item(text: str, k: int = 0) -> dict[str, object]:
    return (
        extract(text)
        .items[k]
        .model_dump(include={"drug", "drug_id", "strength", "dose", "unit", "frequency", "route", "days"})
    )


# --------------------------------------------------------------------------- combination without a unit


def test_unitless_combination_takes_the_listed_unit() -> None:
    assert _item("处理 舒利迭50/250的一次一吸一天两次")["strength"] == "50/250 μg"
    assert _item("处理 布地奈德福莫特罗，八十/四点五的，一次一吸，一天两次，吸入")["strength"] == "80/4.5 μg"
    assert _item("处理 舒利迭五十/五百的一次一吸一天两次")["strength"] == "50/500 μg"


def test_unitless_combination_not_listed_is_left_as_read() -> None:
    # 50/300 is not a listed strength of 舒利迭: no unit is guessed
    assert _item("处理 舒利迭50/300的一次一吸一天两次")["strength"] == "50/300"


def test_combination_said_with_jia_before_the_count() -> None:
    it = _item("处理 安博诺还是用规格一百五加十二点五的一次一片每天早上开两周")
    assert it["strength"] == "150/12.5 mg"
    assert (it["dose"], it["unit"]) == (1.0, "片")


def test_combination_said_with_jia_not_listed_or_without_a_count() -> None:
    # 一百五加二十五 is not a listed strength of 安博诺 (150/12.5, 300/12.5 mg)
    assert _item("处理 安博诺规格一百五加二十五的一次一片每天早上")["strength"] is None
    # no count of tablets after it: not read as the strength
    assert _item("处理 安博诺规格一百五加十二点五每天早上一次")["strength"] is None


# --------------------------------------------------------------------------- one amount without a unit


def test_single_amount_before_the_count_takes_the_listed_unit() -> None:
    it = _item("处理 倍他乐克缓释片四十七点五的，一次一片，一天一次")
    assert (it["strength"], it["dose"], it["unit"]) == ("47.5 mg", 1.0, "片")
    # a strength listed in g, said in mg (0.5 g: 五百的)
    assert _item("处理 二甲双胍五百的一次两片一天三次")["strength"] == "500 mg"
    assert _item("处理 二甲双胍规格五百，一次一片一天三次")["strength"] == "500 mg"


def test_single_amount_not_listed_or_not_before_a_count_is_not_a_strength() -> None:
    # 40 is not a listed strength of metoprolol
    assert _item("处理 倍他乐克缓释片四十的，一次一片，一天一次")["strength"] is None
    # the amount is not said with 的 / 规格: 一次一片 is only the count
    assert _item("处理 倍他乐克缓释片一次一片，一天一次")["strength"] is None
    # no count of tablets: the amount is not read as a strength
    assert _item("处理 倍他乐克缓释片四十七点五的，一天一次")["strength"] is None


# --------------------------------------------------------------------------- the water drunk is no dose


def test_water_drunk_is_not_the_dose_of_the_tablet() -> None:
    it = _item("处理 非布司他二十毫克一天一次碳酸氢钠片一克一天三次以上都开四周每天喝两千毫升水", 1)
    assert it["drug_id"] == "sodium_bicarbonate"
    assert (it["strength"], it["dose"], it["unit"], it["frequency"]) == (None, 1.0, "g", "tid")
    # the water a powder is taken with is no dose either: the count stays the dose
    it = _item("处理 蒙脱石散一袋冲一百毫升温水一天三次")
    assert (it["dose"], it["unit"]) == (1.0, "袋")


def test_volume_stays_the_dose_of_a_liquid() -> None:
    it = _item("处理 乳果糖口服液十五毫升一天两次每天喝两千毫升水")
    assert (it["dose"], it["unit"], it["frequency"]) == (15.0, "ml", "bid")
    it = _item("处理 氨溴索口服溶液十毫升一天三次")
    assert (it["dose"], it["unit"]) == (10.0, "ml")


# --------------------------------------------------------------------------- 开水冲服


def test_dissolved_in_water_is_oral() -> None:
    assert _item("处理 感冒清热颗粒一次一袋，一天两次，开水冲服；右美沙芬十五毫克一天三次")["route"] == "口服"


def test_no_route_said_stays_none() -> None:
    assert _item("处理 感冒清热颗粒一次一袋，一天两次；右美沙芬十五毫克一天三次")["route"] is None


@pytest.mark.parametrize(
    ("text", "routes"),
    [
        # a clause end after the route closes the line it ends: the route is that line's, not the next one's
        (
            "诊断2型糖尿病处理诺和泰零点五毫克，每周一次，皮下注射；二甲双胍肠溶片零点五克一天两次。以上都开四周。",
            ["皮下注射", None],
        ),
        (
            "诊断慢阻肺高血压处理思力华每天一粒，一天一次，吸入；替米沙坦片四十毫克一天一次。都开四周。",
            ["吸入", None],
        ),
        # must not: a route that opens the next line after a comma stays the next line's
        ("诊断高血压处理氨氯地平五毫克一天一次，口服缬沙坦八十毫克一天一次", [None, "口服"]),
    ],
)
def test_a_route_closed_by_a_clause_end_belongs_to_its_line(text: str, routes: list[str | None]) -> None:
    rec = extract(text)
    assert [it.route for it in rec.items] == routes


# --------------------------------------------------------------------------- round 4 (issue 13, after test6)
# A single dose said as such is st; a route said after a line stays with it when the next drug's form
# cannot take it, or when the next drug is stopped; X和Y都停掉 stops both; a line explained again by its
# other name (X就是Y) after the plan is no new line; 鼻喷剂 / 吸入用 are names, not routes; colloquial
# short names of formulary drugs (甘精, 瑞舒, 二甲, 门冬30); doses said at two times of the day (早餐前…
# 晚餐前…) are bid and a change said for one of the times is that time's only; 脑梗死个人史 is a diagnosis;
# Latin codes without blanks (qdpo); 一天四五次; a route said as a heading (口服药：…, 以下都是口服); a route
# said as forbidden (不要嚼服); 先不打; a prn said right before its drug; a drug kept from home (这次不开).


@pytest.mark.parametrize(
    ("text", "freq"),
    [
        ("处理磷霉素氨丁三醇散三克 一次 睡前排空膀胱后温水冲服 只吃这一次 多喝水", "st"),
        ("诊断急性膀胱炎。处理磷霉素氨丁三醇散三克只吃一次，睡前排尿后温水冲服；多喝水。", "st"),
        ("处理 氟康唑胶囊一百五十毫克一次性口服", "st"),
        # must not: a count per administration, or a daily frequency with an ASR pause
        ("处理 阿莫西林胶囊零点五克 一次 一粒 一天三次", "tid"),
        ("处理 磷霉素氨丁三醇散三克睡前冲服", "qn"),
        ("处理 氨氯地平五毫克每天只吃一次", "qd"),
        ("处理 氨氯地平五毫克每天就一次", "qd"),
    ],
)
def test_a_single_dose_said_as_such_is_st(text: str, freq: str) -> None:
    assert _item(text)["frequency"] == freq


def test_a_route_said_after_a_line_stays_when_the_next_form_cannot_take_it() -> None:
    rec = extract("诊断带状疱疹处理阿昔洛韦乳膏涂患处一天四次外用甲钴胺片零点五毫克一天三次开两周")
    assert [it.route for it in rec.items] == ["外用", None]
    # must not: a route the next drug's form takes opens its line (…吃五天 外用双氯芬酸乳胶剂…)
    rec = extract("诊断腰扭伤处理塞来昔布胶囊二百毫克一天一次吃五天外用双氯芬酸二乙胺乳胶剂一天三次涂腰部")
    assert [it.route for it in rec.items] == [None, "外用"]


def test_drugs_stopped_together_and_the_route_goes_back_to_its_line() -> None:
    rec = extract(
        "诊断慢阻肺处理改成三联的，倍择瑞，每次两吸，一天两次，吸入，思力华和信必可都停掉；万托林喘的时候喷两喷。都开一个月。"
    )
    assert [(it.drug, it.route) for it in rec.items] == [("倍择瑞", "吸入"), ("万托林", None)]
    # must not: two drugs named together and prescribed stay lines
    rec = extract("诊断慢阻肺处理倍择瑞，每次两吸，一天两次，吸入，思力华和信必可一天一次。都开一个月。")
    assert [it.drug for it in rec.items] == ["倍择瑞", "思力华", "信必可"]


def test_a_line_explained_again_by_its_other_name_is_no_new_line() -> None:
    rec = extract(
        "诊断变应性鼻炎处理雷诺考特，每个鼻孔一喷，早晚各一次，喷鼻；地氯雷他定片五毫克一天一次。两样都开四周。"
        "雷诺考特就是布地奈德鼻喷剂，喷的时候头稍微低一点。"
    )
    assert [it.drug for it in rec.items] == ["雷诺考特", "地氯雷他定片"]
    assert not any(e.label.value == "route" and e.text == "鼻喷" for e in rec.entities)
    # must not: a brand explained by its name at the line itself is that line
    rec = extract("诊断高血压处理络活喜就是苯磺酸氨氯地平片五毫克一天一次开四周")
    assert [(it.drug, it.dose) for it in rec.items] == [("苯磺酸氨氯地平片", 5.0)]


@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        (
            "2型糖尿病处理甘精二十个单位睡前优泌乐三餐前各八个单位都是皮下注射都开一个月",
            [("甘精", "insulin_glargine", "皮下注射"), ("优泌乐", "insulin_lispro", "皮下注射")],
        ),
        (
            "处理 瑞舒十毫克每晚一次 二甲零点五克一天三次",
            [("瑞舒", "rosuvastatin", None), ("二甲", "metformin", None)],
        ),
        ("处理 门冬30早十六个单位晚十二个单位皮下注射", [("门冬30", "insulin_aspart_30", "皮下注射")]),
        # must not: longer names, another word, a number before, a premix number the short name does not say
        (
            "处理 阿托品零点五毫克 门冬氨酸钾镁两片一天三次",
            [("阿托品", "atropine", None), ("门冬氨酸钾镁", "potassium_magnesium_aspartate", None)],
        ),
        (
            "血压一百五十二甲状腺不大 诊断高血压 处理 氨氯地平五毫克一天一次",
            [("氨氯地平", "amlodipine", None)],
        ),
        # a premix said with its number in words is the premix (test_combo_names.py)
        ("处理 门冬三十早十六个单位", [("门冬三十", "insulin_aspart_30", None)]),
    ],
)
def test_colloquial_short_names(text: str, drugs: list[tuple[str, str, str | None]]) -> None:
    assert [(it.drug, it.drug_id, it.route) for it in extract(text).items] == drugs


def test_doses_at_two_times_of_the_day() -> None:
    rec = extract(
        "诊断2型糖尿病处理门冬胰岛素30注射液早餐前十六个单位晚餐前加到十六个哦不要加那么多十四个单位"
        "早晚餐前皮下注射开一个月"
    )
    it = rec.items[0]
    assert (it.dose, it.frequency, it.route, it.days) == (16.0, "bid", "皮下注射", 30.0)
    # must not: one time of the day and a correction keep the corrected dose
    it = extract("诊断2型糖尿病处理甘精胰岛素睡前十个单位不对加到十二个单位皮下注射").items[0]
    assert (it.dose, it.frequency) == (12.0, "qn")


def test_a_history_of_a_disease_is_no_section_name() -> None:
    rec = extract(
        "血压一百三十六七十四。高血压病，2型糖尿病，脑梗死个人史。苯磺酸氨氯地平片五毫克一天一次，"
        "阿卡波糖片五十毫克一天三次吃第一口饭时嚼服，以上均口服，都开四周。"
    )
    assert [(it.drug, it.route, it.days) for it in rec.items] == [
        ("苯磺酸氨氯地平片", "口服", 28.0),
        ("阿卡波糖片", "嚼服", 28.0),
    ]
    # must not: the section said by its name
    assert "个人史" in {
        s.name for s in extract("诊断高血压。个人史：吸烟二十年。处理氨氯地平五毫克一天一次").sections
    }


def test_latin_codes_written_without_blanks() -> None:
    rec = extract("开药血压一直挺稳的BP 128/80高血压Amlodipine5mgqdpoValsartan80mgqdpo都开28天")
    assert [(it.drug, it.frequency, it.route) for it in rec.items] == [
        ("Amlodipine", "qd", "口服"),
        ("Valsartan", "qd", "口服"),
    ]
    # must not: a code glued to a longer word is no route
    assert extract("处理 Amlodipine5mgqdpotassium").items[0].route is None


@pytest.mark.parametrize(
    ("text", "freq"),
    [
        ("诊断带状疱疹处理阿昔洛韦乳膏涂患处一天四五次外用", "5/日"),
        ("处理 布洛芬片一天两三次每次一片", "tid"),
        # must not: counts that are not neighbours
        ("处理 红霉素软膏一天三五次外用", None),
    ],
)
def test_two_neighbouring_counts_a_day(text: str, freq: str | None) -> None:
    assert _item(text)["frequency"] == freq


@pytest.mark.parametrize(
    ("text", "routes"),
    [
        (
            "诊断高血压2型糖尿病处理以下都是口服。氨氯地平五毫克一天一次，二甲双胍零点五克一天三次，都开四周。",
            ["口服", "口服"],
        ),
        (
            "诊断2型糖尿病处理口服药：二甲双胍零点五克一天三次，阿卡波糖五十毫克一天三次嚼服；"
            "皮下注射：甘精胰岛素睡前十个单位。都开一个月。",
            ["口服", "嚼服", "皮下注射"],
        ),
        ("诊断哮喘处理吸入的：信必可一次一吸一天两次，万托林喘的时候两喷。", ["吸入", "吸入"]),
        # must not: a route said before the first drug only is that drug's
        (
            "诊断高血压2型糖尿病处理口服氨氯地平五毫克一天一次，二甲双胍零点五克一天三次，都开四周。",
            ["口服", None],
        ),
    ],
)
def test_a_route_said_as_a_heading_of_the_lines_after_it(text: str, routes: list[str | None]) -> None:
    assert [it.route for it in extract(text).items] == routes


def test_a_route_said_as_forbidden_is_no_route() -> None:
    assert _item("诊断高血压处理硝苯地平控释片三十毫克一天一次不要嚼服开四周")["route"] is None
    # must not: the route said as it is to be taken
    assert _item("诊断2型糖尿病处理阿卡波糖片五十毫克一天三次嚼服")["route"] == "嚼服"


def test_a_drug_not_injected_now_is_no_line() -> None:
    rec = extract("诊断2型糖尿病处理二甲双胍零点五克一天三次，胰岛素先不打，以后可能要皮下注射")
    assert [it.drug for it in rec.items] == ["二甲双胍"]
    # must not: an injection prescribed now
    rec = extract("诊断2型糖尿病处理甘精胰岛素睡前十个单位皮下打，二甲双胍零点五克一天三次")
    assert [(it.drug, it.route) for it in rec.items] == [("甘精胰岛素", "皮下注射"), ("二甲双胍", None)]


@pytest.mark.parametrize(
    ("text", "freqs"),
    [
        # an as-needed frequency said right before a drug is that drug's, not the line's before it
        ("诊断哮喘处理孟鲁司特钠片十毫克睡前口服，喘的时候万托林喷两喷", ["qn", "prn"]),
        ("诊断膝骨关节炎处理氨基葡萄糖胶囊两粒一天三次，疼的时候吃布洛芬缓释胶囊零点三克", ["tid", "prn"]),
        # must not: said after its drug and closed by a comma, it stays with that drug
        ("诊断头痛处理布洛芬零点三克，疼的时候吃，氨氯地平五毫克一天一次", ["prn", "qd"]),
        # must not: said before a drug prescribed already (advice), it is no line's
        (
            "诊断哮喘处理信必可每次一吸早晚各一次加顺尔宁十毫克睡前口服两个都开一个月"
            "憋得厉害的时候信必可可以多吸一吸一天不超过八吸",
            ["bid", "qn"],
        ),
    ],
)
def test_an_as_needed_frequency_said_before_its_drug(text: str, freqs: list[str]) -> None:
    assert [it.frequency for it in extract(text).items] == freqs


@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        (
            "诊断慢阻肺处理吸入用布地奈德混悬液一毫克一天两次，雾化吸入，都开一周；噻托溴铵家里还有，这次不开。",
            ["吸入用布地奈德混悬液"],
        ),
        # must not: said to continue (照旧用) the patient still takes it, so it stays a line for the audit
        # (clinical-safety review: a continued home warfarin must still meet the interaction checks)
        (
            "诊断慢阻肺处理吸入用布地奈德混悬液一毫克一天两次，雾化吸入，都开一周；噻托溴铵照旧用，家里还有，这次不开。",
            ["吸入用布地奈德混悬液", "噻托溴铵"],
        ),
        ("诊断高脂血症处理阿托伐他汀二十毫克睡前都开一个月那个辛伐他汀家里剩的别吃了", ["阿托伐他汀"]),
        (
            "诊断痛风处理非布司他二十毫克一天一次；以上都开一个月。双氯芬酸以后不要再买了，肾受不了。",
            ["非布司他"],
        ),
        # must not: a continuation dispensed, and 家里有 said of something else
        ("诊断慢阻肺处理噻托溴铵照旧用，一天一吸，这次开一盒。", ["噻托溴铵"]),
        ("诊断高血压处理氨氯地平照旧吃，家里有血压计每天量，开四周", ["氨氯地平"]),
    ],
)
def test_a_drug_kept_from_home_or_told_not_to_buy_is_no_line(text: str, drugs: list[str]) -> None:
    assert [it.drug for it in extract(text).items] == drugs


def test_a_combination_run_after_spec_closed_by_the_sig() -> None:
    assert (
        _item("诊断慢阻肺处理舒利迭规格五十二百五十每次一吸一天两次吸入开一个月")["strength"] == "50/250 μg"
    )
    # must not: the same run with neither 规格 before it nor 的 after it stays unread
    assert _item("诊断慢阻肺处理舒利迭五十二百五十每次一吸一天两次")["strength"] is None


def test_a_route_said_as_a_clause_of_its_own_closes_its_line() -> None:
    rec = extract("诊断慢阻肺处理噻托溴铵粉雾剂每天一吸，吸入，沙美特罗替卡松每次一吸一天两次，都开一个月")
    assert [it.route for it in rec.items] == ["吸入", None]
    # must not: a route said right before the next drug after a comma opens that line
    rec = extract("诊断高血压处理氨氯地平五毫克一天一次，口服氯雷他定十毫克一天一次")
    assert [it.route for it in rec.items] == [None, "口服"]


def test_eye_drops_said_for_the_eyes() -> None:
    assert _item("诊断结膜炎处理左氧氟沙星滴眼液一次一滴一天四次滴双眼，用一周")["route"] == "滴眼"
    # must not: no way of giving said
    assert _item("诊断结膜炎处理左氧氟沙星滴眼液一次一滴一天四次，用一周")["route"] is None


def test_the_patients_own_supply_is_no_line() -> None:
    assert extract("诊断急性腰扭伤处理不用开药家里有布洛芬疼得厉害可以吃两天先卧床休息").items == ()
    rec = extract("诊断腰扭伤处理家里有布洛芬的话疼的时候吃，再开塞来昔布胶囊二百毫克一天一次")
    assert [it.drug for it in rec.items] == ["塞来昔布胶囊"]
    # must not: something else at home, or a line with its amount
    rec = extract("诊断高血压处理家里有血压计，氨氯地平五毫克一天一次")
    assert [it.drug for it in rec.items] == ["氨氯地平"]
