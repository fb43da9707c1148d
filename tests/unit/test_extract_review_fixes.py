"""Fixes from the clinical-safety review of the extraction changes (issue 13): a drug that was said stays a
line (and is audited) unless the dictation clearly says it is not prescribed; heading routes are not given
to forms they rule out; unit-dosed injectables keep their dose and route; short names before Arabic digits."""

from __future__ import annotations

import pytest

from toolkit.extract.records import ExtractedItem
from toolkit.visit import visit

P = "女，68岁，诊断：高血压，2型糖尿病。处理："


def _drugs(text: str) -> list[str]:
    return [it.drug for it in visit(text=P + text).items]


def _item(text: str, drug: str) -> ExtractedItem:
    (it,) = [it for it in visit(text=P + text).items if it.drug == drug]
    return it


def _rules(text: str) -> set[str]:
    return {f.finding.rule_id for f in visit(text=P + text).findings}


# 1. 不开 said of something else (不开车, 不开输液, 别的药不开) or cancelled by 再开 / 开一盒 / 不够了
@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        ("氨氯地平照旧吃，家里有，再开两盒。", ["氨氯地平"]),
        ("氨氯地平家里有，再开两盒。", ["氨氯地平"]),
        ("二甲双胍缓释片照旧吃，家里还有，不过不够了，再开一盒。", ["二甲双胍缓释片"]),
        ("头孢克洛胶囊，按说明书吃五天，这次不开输液了。", ["头孢克洛胶囊"]),
        ("蒙脱石散，按说明书吃，不用开别的药了。", ["蒙脱石散"]),
        ("开点氯雷他定片，吃完不开车就行。", ["氯雷他定片"]),
        ("开二甲双胍缓释片，剂量跟以前一样，别的药不开了。", ["二甲双胍缓释片"]),
        # must not: not dispensed and not said to continue stays no line; 再开 before the next drug is its own
        ("二甲双胍，家里还有，这次不开；格列美脲2毫克一天一次。", ["格列美脲"]),
        ("二甲双胍，家里还有，这次不开，再开阿卡波糖50毫克一天三次。", ["阿卡波糖"]),
        ("家里有布洛芬疼得厉害可以吃两天。", []),
    ],
)
def test_not_dispensed_only_when_said_of_this_drug(text: str, drugs: list[str]) -> None:
    assert _drugs(text) == drugs


# 2. a home medicine said to continue is still taken: a line, so the interaction checks see it
@pytest.mark.parametrize(
    ("text", "drugs", "rule"),
    [
        (
            "华法林继续吃，家里还有，这次不开。开阿司匹林100毫克一天一次。",
            ["华法林", "阿司匹林"],
            "RX-DDI-021",
        ),
        ("家里有华法林，继续吃。开布洛芬缓释胶囊0.3克一天两次。", ["华法林", "布洛芬缓释胶囊"], "RX-DDI-020"),
        ("手头有的那个氯吡格雷继续吃，开阿司匹林100毫克一天一次。", ["氯吡格雷", "阿司匹林"], "RX-DDI-041"),
    ],
)
def test_a_continued_home_medicine_stays_a_line(text: str, drugs: list[str], rule: str) -> None:
    assert _drugs(text) == drugs
    assert rule in _rules(text)


def test_a_home_supply_not_continued_is_still_no_line() -> None:
    # must not: 家里有 … 的话 (the patient's own supply, no continuation said) stays no line
    assert _drugs("家里有布洛芬的话疼的时候吃，再开塞来昔布胶囊200毫克一天一次。") == ["塞来昔布胶囊"]


# 3. 吃完了 is not a stop said for both drugs named together; 都停掉 is
def test_finished_then_come_back_is_not_a_stop() -> None:
    assert _drugs("氨氯地平和阿托伐他汀吃完了再来拿药。") == ["氨氯地平", "阿托伐他汀"]
    # must not: an explicit stop for both still drops both
    assert _drugs("阿司匹林和氯吡格雷都停掉，换替格瑞洛90毫克一天两次。") == ["替格瑞洛"]
    assert _drugs("思力华和信必可都停掉。") == []


# 4. a heading route is applied only where the drug's form allows it
def test_a_heading_route_skips_forms_it_rules_out() -> None:
    text = "口服药：二甲双胍0.5克一天三次，阿卡波糖50毫克一天三次，还有甘精胰岛素10个单位睡前。"
    assert _item(text, "甘精胰岛素").route == "皮下注射"
    assert _item(text, "阿卡波糖").route == "口服"
    assert "RX-ROUTE-001" not in _rules(text)
    eye = "以下都是口服，氨氯地平5毫克一天一次，玻璃酸钠滴眼液一次一滴一天三次。"
    assert _item(eye, "玻璃酸钠滴眼液").route != "口服"
    assert _item(eye, "氨氯地平").route == "口服"
    # must not: the heading still reaches the oral lines after it
    assert (
        _item("以下都是口服，氨氯地平5毫克一天一次，阿托伐他汀20毫克每晚一次。", "阿托伐他汀").route == "口服"
    )


# 5. heparins (and other unit-dosed injectables) keep a dose in 单位 and the injection route after it
def test_a_heparin_dosed_in_units_keeps_dose_and_route() -> None:
    it = _item("依诺肝素钠，每次4000单位，皮下注射，一天两次。", "依诺肝素钠")
    assert (it.dose, it.unit, it.route, it.frequency) == (4000.0, "U", "皮下注射", "bid")
    # must not: a tablet dosed by mass still does not take an insulin clause's units or injection route
    it = _item("格华止0.5克1天3次饭后吃，来本时睡前打12个单位，皮下注射。", "格华止")
    assert (it.unit, it.route) == ("g", "口服")


# 6. short names before Arabic digits (Whisper writes digits)
def test_short_names_before_arabic_digits() -> None:
    it = _item("二甲0.5克一天三次。", "二甲双胍")
    assert (it.dose, it.unit, it.frequency) == (0.5, "g", "tid")
    assert _drugs("阿托20毫克每晚一次，二甲850毫克一天两次。") == ["阿托伐他汀", "二甲双胍"]
    both = visit(text=P + "甘精十个单位睡前打，二甲0.5克一天三次。").items
    assert [(it.drug, it.unit, it.frequency) for it in both] == [
        ("甘精胰岛素", "U", "qn"),
        ("二甲双胍", "g", "tid"),
    ]
    # must not: the premix keys still win, and 阿托品 is not 阿托
    assert _drugs("门冬30十二个单位早晚餐前。") == ["门冬胰岛素30"]
    assert _drugs("赖脯25 10个单位早晚。") == ["赖脯胰岛素25"]
    assert _drugs("阿托品0.5毫克肌注。") == ["阿托品"]
    # 阿托 said for atropine (a fraction of a milligram, injected) is not read as 阿托伐他汀
    assert "阿托伐他汀" not in _drugs("阿托0.5毫克肌注一次。")
    assert "阿托伐他汀" not in _drugs("阿托零点五毫克肌肉注射。")
    assert _drugs("阿托二十毫克每晚甘精十个单位睡前皮下注射") == ["阿托伐他汀", "甘精胰岛素"]


# 7. a stop said as the next clause after 以后就
def test_a_stop_as_the_next_clause_after_yihou_jiu() -> None:
    assert _drugs("阿卡波糖，以后就不用再吃了。") == []
    # must not: a dosed line with advice after it stays
    assert _drugs("阿卡波糖50毫克一天三次，以后就不用再查了。") == ["阿卡波糖"]
