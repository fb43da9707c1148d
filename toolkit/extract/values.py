"""Value parsers: vitals, labs, and the parts of a prescription line (strength, dose, frequency,
route, duration), spoken or written, with character offsets.

Each finder scans the (width-folded) text and returns :class:`Candidate` spans with a
normalised value; the pipeline decides which ones become entities. Nothing is guessed: a
number that cannot be read, or falls outside its plausible range, yields no candidate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from toolkit.extract.numbers import NUM, duration_days, fold_width, parse_amount, parse_number, split_pair
from toolkit.units import _ROUTE_ALIASES, normalize_unit, parse_frequency


@dataclass(frozen=True)
class Candidate:
    """A span proposed by a lexicon, a rule or a model, before overlaps are resolved."""

    start: int
    end: int
    label: str
    normalized: str | None = None
    source: str = "rule"
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def length(self) -> int:
        """Number of characters in the span."""
        return self.end - self.start


def _fmt(x: float) -> str:
    return f"{x:g}"


__all__ = [
    "NUM",
    "Candidate",
    "find_demographics",
    "find_doses",
    "find_durations",
    "find_frequencies",
    "find_labs",
    "find_notes",
    "find_routes",
    "find_strengths",
    "find_vitals",
    "fold_width",
]

_CN = "零〇一二两三四五六七八九十百千幺"
_HOME = re.compile(r"(家测|家里测|家里量|在家测|在家量|自测|自己测|自己量|家庭血压)[^，。；;]{0,4}$")

# --------------------------------------------------------------------------- vitals

_BP_NAME = r"(?:诊室血压|坐位血压|血压|BP|bp|Bp)"
_BP_FILL = r"(?:是|为|：|:|\s|右上肢|左上肢|右侧|左侧|测得?|大概|今天|今日){0,4}"
_BP_DIGITS = re.compile(
    _BP_NAME + _BP_FILL + r"(\d{2,3})\s*(?:/|比|\\)\s*(\d{2,3})(?:\s*(?:mmHg|mmhg|MMHG|毫米汞柱))?"
)
_BP_SPOKEN = re.compile(
    _BP_NAME + _BP_FILL + rf"([{_CN}]+(?:(?:\s+|\s*[比/]\s*)[{_CN}]+)?)(?:\s*(?:mmHg|毫米汞柱))?"
)
_BP_HALF = re.compile(rf"(高压|收缩压|低压|舒张压)(?:是|为|：|:|\s)*({NUM})(?:\s*(?:mmHg|毫米汞柱))?")
_BP_RANGE = ((60.0, 280.0), (30.0, 160.0))

_SIMPLE_VITALS: tuple[tuple[str, re.Pattern[str], tuple[float, float]], ...] = (
    (
        "heart_rate",
        re.compile(
            rf"(?:心率|HR|脉搏|心跳|(?<![A-Za-z])P(?=[\s:：\d]))(?:是|为|：|:|\s|每分钟|大概|约)*({NUM})"
            r"(?:\s*(?:次/分钟|次/分|次每分钟|次每分|次/min|次|bpm))?"
        ),
        (20, 250),
    ),
    (
        "resp_rate",
        re.compile(
            rf"(?:呼吸频率|呼吸|(?<![A-Za-z])R(?=[\s:：\d]))(?:是|为|：|:|\s)*({NUM})"
            r"(?:\s*(?:次/分钟|次/分|次每分钟|次每分|次))?"
        ),
        (5, 70),
    ),
    (
        "spo2",
        re.compile(
            rf"(?:血氧饱和度|指脉氧|氧饱和度|血氧|SpO2|SPO2|spo2)(?:是|为|：|:|\s)*(?:百分之)?({NUM})\s*%?"
        ),
        (50, 100),
    ),
    ("bmi", re.compile(rf"(?:BMI|bmi|体重指数)(?:是|为|：|:|\s)*({NUM})(?:\s*(?:kg/m2|kg/m²))?"), (10, 70)),
    ("waist_cm", re.compile(rf"腰围(?:是|为|：|:|\s)*({NUM})(?:\s*(?:厘米|公分|cm))?"), (40, 200)),
)
_TEMP = re.compile(
    rf"(?:体温|(?<![A-Za-z])T(?=[\s:：\d]))(?:是|为|：|:|\s)*({NUM})(?:\s*(?:度|℃|°C|°)([零一二三四五六七八九\d])?)?"
)
_WEIGHT = re.compile(rf"体重(?:是|为|：|:|\s)*({NUM})\s*(公斤|千克|kg|KG|斤)")
_HEIGHT = re.compile(
    rf"身高(?:是|为|：|:|\s)*(?:({NUM})\s*(?:厘米|公分|cm)|([一1])米([零一二三四五六七八九\d]{{1,2}}))"
)


def _home(text: str, start: int) -> bool:
    return bool(_HOME.search(text[max(0, start - 10) : start]))


def find_vitals(text: str) -> list[Candidate]:
    """Blood pressure (160/100mmHg, 一百六十九十五, 一三二七八, 高压…低压…), heart rate, temperature
    (三十七度八), respiration, SpO2, BMI, weight (公斤/斤), height (一米七二), waist."""
    out: list[Candidate] = []
    for m in _BP_DIGITS.finditer(text):
        sbp, dbp = float(m.group(1)), float(m.group(2))
        if (
            _BP_RANGE[0][0] <= sbp <= _BP_RANGE[0][1]
            and _BP_RANGE[1][0] <= dbp <= _BP_RANGE[1][1]
            and sbp > dbp
        ):
            out.append(
                Candidate(
                    m.start(),
                    m.end(),
                    "vital",
                    f"sbp={_fmt(sbp)};dbp={_fmt(dbp)}",
                    data={"sbp": sbp, "dbp": dbp},
                )
            )
    for m in _BP_SPOKEN.finditer(text):
        raw = m.group(1)
        parts = re.split(r"\s*[比/]\s*|\s+", raw)
        pair = None
        if len(parts) == 2:
            a, b = parse_number(parts[0]), parse_number(parts[1])
            if a is not None and b is not None and a > b:
                pair = (a, b)
        else:
            pair = split_pair(raw, *_BP_RANGE)
        if pair:
            out.append(
                Candidate(
                    m.start(),
                    m.end(),
                    "vital",
                    f"sbp={_fmt(pair[0])};dbp={_fmt(pair[1])}",
                    data={"sbp": pair[0], "dbp": pair[1]},
                )
            )
    for m in _BP_HALF.finditer(text):
        v = parse_number(m.group(2))
        key = "sbp" if m.group(1) in ("高压", "收缩压") else "dbp"
        lo, hi = _BP_RANGE[0] if key == "sbp" else _BP_RANGE[1]
        if v is not None and lo <= v <= hi:
            out.append(Candidate(m.start(), m.end(), "vital", f"{key}={_fmt(v)}", data={key: v}))
    for key, rx, (lo, hi) in _SIMPLE_VITALS:
        for m in rx.finditer(text):
            v = parse_number(m.group(1))
            if v is not None and lo <= v <= hi:
                out.append(Candidate(m.start(), m.end(), "vital", f"{key}={_fmt(v)}", data={key: v}))
    for m in _TEMP.finditer(text):
        v = parse_number(m.group(1))
        if v is not None and m.group(2):
            tenth = parse_number(m.group(2))
            v = v + (tenth or 0) / 10 if v == int(v) else None
        if v is not None and 34 <= v <= 43:
            out.append(
                Candidate(
                    m.start(),
                    m.end(),
                    "vital",
                    f"temperature={_fmt(round(v, 1))}",
                    data={"temperature": round(v, 1)},
                )
            )
    for m in _WEIGHT.finditer(text):
        v = parse_number(m.group(1))
        if v is not None:
            v = v / 2 if m.group(2) == "斤" else v
            if 2 <= v <= 300:
                out.append(
                    Candidate(m.start(), m.end(), "vital", f"weight_kg={_fmt(v)}", data={"weight_kg": v})
                )
    for m in _HEIGHT.finditer(text):
        if m.group(1):
            v = parse_number(m.group(1))
        else:
            cm = parse_number(m.group(3))
            v = None if cm is None else 100 + (cm * 10 if len(m.group(3)) == 1 and cm < 10 else cm)
        if v is not None and 40 <= v <= 230:
            out.append(Candidate(m.start(), m.end(), "vital", f"height_cm={_fmt(v)}", data={"height_cm": v}))
    return [c for c in out if not _home(text, c.start)]


# --------------------------------------------------------------------------- labs

# (key, names longest first, plausible range); key None = recognised but not an audit lab
_LABS: tuple[tuple[str | None, tuple[str, ...], tuple[float, float]], ...] = (
    ("hba1c", ("糖化血红蛋白", "HbA1c", "HBA1C", "hba1c", "A1c", "糖化"), (3, 20)),
    ("pbg", ("餐后两小时血糖", "餐后2小时血糖", "餐后二小时血糖", "餐后2h血糖", "餐后血糖", "2hPG"), (2, 40)),
    ("fpg", ("空腹血糖", "空腹血浆葡萄糖", "FPG", "空腹"), (1.5, 35)),
    (None, ("随机血糖", "即刻血糖", "末梢血糖", "指尖血糖"), (1, 40)),
    ("uacr", ("尿白蛋白肌酐比值", "尿白蛋白肌酐比", "尿微量白蛋白肌酐比", "UACR"), (0, 5000)),
    ("crcl", ("肌酐清除率", "CrCl", "Ccr"), (2, 200)),
    ("egfr", ("估算肾小球滤过率", "肾小球滤过率", "eGFR", "EGFR", "egfr", "GFR"), (2, 200)),
    ("scr", ("血肌酐", "肌酐", "Scr", "SCr", "Cr"), (20, 2000)),
    ("bun", ("尿素氮", "BUN"), (0.5, 60)),
    ("potassium", ("血钾", "钾", "K"), (1.5, 8.5)),
    ("sodium", ("血钠", "钠", "Na"), (100, 180)),
    ("alt", ("谷丙转氨酶", "丙氨酸氨基转移酶", "谷丙", "ALT"), (1, 3000)),
    ("ast", ("谷草转氨酶", "天冬氨酸氨基转移酶", "谷草", "AST"), (1, 3000)),
    ("tc", ("总胆固醇", "TC", "胆固醇"), (1, 20)),
    ("tg", ("甘油三酯", "三酰甘油", "TG"), (0.2, 50)),
    ("ldl_c", ("低密度脂蛋白胆固醇", "低密度脂蛋白", "低密度", "LDL-C", "LDL"), (0.3, 15)),
    ("hdl_c", ("高密度脂蛋白胆固醇", "高密度脂蛋白", "高密度", "HDL-C", "HDL"), (0.2, 5)),
    ("uric_acid", ("血尿酸", "尿酸"), (50, 1500)),
    ("hb", ("血红蛋白", "Hb", "HGB"), (20, 250)),
    ("wbc", ("白细胞", "WBC"), (0.5, 80)),
    ("plt", ("血小板", "PLT"), (5, 1500)),
    ("inr", ("INR",), (0.5, 10)),
    ("tsh", ("促甲状腺激素", "TSH"), (0.001, 200)),
    ("nt_probnp", ("NT-proBNP", "NT-BNP", "NTproBNP"), (5, 100000)),
    ("bnp", ("BNP", "脑钠肽"), (1, 10000)),
    ("ck", ("肌酸激酶", "CK"), (5, 50000)),
    ("qtc", ("QTc",), (250, 700)),
)
_LAB_UNIT = (
    r"(?:\s*(?:毫摩尔每升|毫摩尔|微摩尔每升|微摩尔|%|mmol/L|mmol/l|μmol/L|umol/L|µmol/L|U/L|u/l|IU/L|g/L|pg/ml|pg/mL|ng/L|mIU/L|μIU/mL|uIU/ml"
    r"|mg/g|mg/mmol|ml/min/1\.73m2|ml/min|mL/min|毫摩尔每升|微摩尔每升|个加号))?"
)
_LAB_NAME_TO_KEY: dict[str, tuple[str | None, tuple[float, float]]] = {
    name: (key, rng) for key, names, rng in _LABS for name in names
}
_LAB_RX = re.compile(
    r"(?<![A-Za-z\-])("
    + "|".join(re.escape(n) for n in sorted(_LAB_NAME_TO_KEY, key=len, reverse=True))
    + r")(?![A-Za-z])(?:是|为|：|:|\s|有|大概|约|偏高|偏低|升高|降低){0,3}("
    + NUM
    + r")(?![\d一二三四五六七八九零两](?![型级期]))(?![型级期.])"
    + _LAB_UNIT
)


def find_labs(text: str) -> list[Candidate]:
    """Lab results with a value: 空腹血糖7.8, 糖化血红蛋白七点五, eGFR 55, 血钾三点四, 尿酸五百二 …"""
    out: list[Candidate] = []
    for m in _LAB_RX.finditer(text):
        name = m.group(1)
        key, (lo, hi) = _LAB_NAME_TO_KEY[name]
        if name in ("空腹",) and m.group(0)[len(name) : len(name) + 1].isspace():
            continue
        if name == "钾" and m.start() > 0 and text[m.start() - 1] in "化坦酸":  # 氯化钾, 氯沙坦钾
            continue
        if name == "血红蛋白" and text[max(0, m.start() - 2) : m.start()] == "糖化":
            continue
        v = parse_number(m.group(2))
        if v is None or not lo <= v <= hi:
            continue
        norm = f"{key}={_fmt(v)}" if key else None
        out.append(Candidate(m.start(), m.end(), "lab", norm, data={key: v} if key else {}))
    return [c for c in out if not _home(text, c.start)]


# --------------------------------------------------------------------------- prescription lines

_MASS = r"(?:mg|MG|Mg|g|G|μg|µg|ug|mcg|毫克|克(?!拉)|微克)"
_STRENGTH_UNIT = rf"(?:{_MASS}|万单位|IU|iu)"
_STRENGTH = re.compile(
    rf"({NUM})\s*({_STRENGTH_UNIT})?(?:\s*/\s*({NUM})\s*({_STRENGTH_UNIT})?)?(?:\s*/\s*({NUM})\s*({_STRENGTH_UNIT})?)?"
)
_DOSE_PREFIX = re.compile(
    r"(每次|一次|每回|一回|每侧鼻孔|每侧|每晚|每早|早上|晚上"
    r"|(?<![一二两三四五六七八九十\d])周[一二三四五六日天](?:[、和及]?周?[一二三四五六日天])*|其[他余]的?(?:日子|天))"
    r"\s*(?:吃|服|用|口服|打|注射)?\s*$"
)
"""Words before a mass that make it the amount per administration (每次 20 mg; 周一周四 3.75 mg)."""
_COUNT = r"(?:片|粒|袋|包|支|吸|喷|揿|滴|丸|贴|枚|毫升|ml|mL|个单位|单位|IU|U(?![a-zA-Z]))"
_DOSE = re.compile(rf"((?:{NUM})|半)\s*个?({_COUNT})(半)?")
_DOSE_PUFFS = re.compile(rf"(喷|吸|揿)\s*({NUM})\s*下")
_DOSE_MASS = re.compile(rf"({NUM})\s*({_MASS})")

_VOLUME = r"(?:毫升|ml|mL|ML)"
_PEN_UNIT = r"个?(?:单位|IU|U(?![a-zA-Z]))"
# 三百单位三毫升的笔, 三百单位的笔芯, 三百单位一支的笔, 三百单位的注射笔, 三百单位一支，: what a pen or cartridge
# holds is the product's strength, never the amount injected
_PEN_CONTENT = re.compile(
    rf"(?:({NUM})\s*{_VOLUME}\s*)?({NUM})\s*{_PEN_UNIT}(?:\s*({NUM})\s*{_VOLUME})?"
    # the words after the amount say what it is the content of; the span is the amount (三百单位三毫升)
    r"(?=\s*(?:(?:一支\s*)?的?\s*(?:预填充|注射)?(?:笔芯|笔)|一支\s*(?:的|[，,。；;]|$)|每支|/支))"
)
# 每支三百单位, 规格三百单位三毫升, 笔芯三百单位: the content said after what holds it
_PEN_AMOUNT = re.compile(rf"({NUM})\s*{_PEN_UNIT}(?:\s*({NUM})\s*{_VOLUME})?")
_PEN_LEAD = re.compile(r"(?:每支|每一支|每个笔芯|每支笔|笔芯|规格(?:是|为)?)\s*$")
_PEN_TAIL = re.compile(r"\s*(?:一支\s*)?的?\s*(?:预填充|注射)?(?:笔芯|笔)?")
# 十五毫克五毫升的, 十五毫克每五毫升, 一百毫升两克的: a liquid's concentration (mass per volume)
_CONCENTRATION = re.compile(
    rf"({NUM})\s*({_MASS})\s*(?:(?:每|/)\s*({NUM})\s*{_VOLUME}|({NUM})\s*{_VOLUME}(?=\s*的))"
    # 一百毫升两克的, 每五毫升含十五毫克
    rf"|每\s*({NUM})\s*{_VOLUME}\s*(?:含有?|里面?有?)?\s*({NUM})\s*({_MASS})"
    rf"|({NUM})\s*{_VOLUME}\s*(?:含有?|里面?有?)?\s*({NUM})\s*({_MASS})(?=\s*的)"
)


def _contents(window: str) -> list[tuple[int, int, str, int]]:
    """The pen contents and liquid concentrations said in ``window``, (start, end, strength, end of the
    words saying what holds it): 300 U/3 ml (三百单位三毫升|一支的笔), 15 mg/5 ml. Not after 每次/一次
    (每次十五毫克五毫升的: said as the dose)."""
    out: list[tuple[int, int, str, int]] = []
    for m in _PEN_CONTENT.finditer(window):
        if _DOSE_PREFIX.search(window[: m.start()]):
            continue
        amount = parse_number(m.group(2))
        volume = m.group(1) or m.group(3)
        ml = parse_number(volume) if volume else None
        if not amount or (volume and not ml):
            continue
        norm = f"{_fmt(amount)} U" + (f"/{_fmt(ml)} ml" if ml else "")
        out.append((m.start(), m.end(), norm, _PEN_TAIL.match(window, m.end()).end()))
    for m in _PEN_AMOUNT.finditer(window):
        taken = any(m.start() < e and s < m.end() for s, _, _, e in out)
        if taken or not _PEN_LEAD.search(window[: m.start()]):
            continue
        amount = parse_number(m.group(1))
        ml = parse_number(m.group(2)) if m.group(2) else None
        if amount and amount >= 100 and (ml or not m.group(2)):  # a pen or vial holds 300 U, not 10 U
            norm = f"{_fmt(amount)} U" + (f"/{_fmt(ml)} ml" if ml else "")
            out.append((m.start(), m.end(), norm, m.end()))
    for m in _CONCENTRATION.finditer(window):
        taken = any(m.start() < e and s < m.end() for s, _, _, e in out)
        if taken or _DOSE_PREFIX.search(window[: m.start()]):
            continue
        if m.group(1):
            mass, unit, volume = m.group(1), m.group(2), m.group(3) or m.group(4)
        elif m.group(5):
            mass, unit, volume = m.group(6), m.group(7), m.group(5)
        else:
            mass, unit, volume = m.group(9), m.group(10), m.group(8)
        amount, ml, unit_norm = parse_number(mass), parse_number(volume), normalize_unit(unit)
        if amount and ml and unit_norm:
            out.append((m.start(), m.end(), f"{_fmt(amount)} {unit_norm}/{_fmt(ml)} ml", m.end()))
    return out


_EACH = r"(?:片|粒|袋|包|支|吸|喷|揿|丸|贴)儿?"
_FREQ_EXPLICIT: tuple[tuple[re.Pattern[str], str | None], ...] = (
    # a Latin code right after a written unit counts too (5mgqd, 0.4gqd, 10mgqn)
    (
        re.compile(
            r"(?:(?<![A-Za-z])|(?<=\d(?:mg|MG|ml|mL|μg|ug))|(?<=\dmcg)|(?<=\d[gG]))"
            r"(qd|QD|Qd|bid|BID|Bid|tid|TID|Tid|qid|QID|Qid|qn|QN|qw|QW|qod|QOD|q12h|Q12h|q8h|Q8h|"
            r"q6h|Q6h|prn|PRN|st|ST|[qQ]\.[dD]\.?|[bB]\.[iI]\.[dD]\.?|[tT]\.[iI]\.[dD]\.?|[qQ]\.[iI]\.[dD]\.?|"
            r"[qQ]\.[nN]\.?)(?![A-Za-z])"
            # 5mgqdpoValsartan: a code glued to the route code written after it
            r"|(?<=\d(?:mg|MG|ml|mL|μg|ug))(qd|bid|tid|qid|qn)(?=(?:po|ih|sc|im|iv)(?![a-z]))"
            r"|(?<=\d[gG])(qd|bid|tid|qid|qn)(?=(?:po|ih|sc|im|iv)(?![a-z]))"
        ),
        None,
    ),
    # 每三天一次, 两天一次, 隔一天吃一次: every few days (not 天一次 inside them)
    (
        re.compile(
            r"(?:每隔|隔)(?:一)?(?:天|日)(?:吃|服|用)?(?:一|1)次|(?:每)?(?:两|二|2)(?:天|日)(?:吃|服|用)?(?:一|1)次"
        ),
        "qod",
    ),
    (re.compile(r"每?((?:[三四五六七3-7]))(?:天|日)(?:吃|服|用)?(?:一|1)次"), "every_days"),
    # 一天四五次, 一天两三次: two neighbouring counts said as one — the larger is the most it may be given
    (
        re.compile(
            r"(?<![零〇一二两三四五六七八九十\d隔])(?:每|一)?(?:天|日)(?:吃|服|用|涂|抹|滴|喷)?"
            r"([一两二三四五六七八])([二三四五六七八九])(?:次|回)"
        ),
        "count_day_range",
    ),
    (
        re.compile(
            rf"(?<![零〇一二两三四五六七八九十\d隔])(?:每|一|1)?(?:天|日)(?:只|就|仅)?(?:吃|服|用)?({NUM})(?:次|顿|回)"
        ),
        "count_day",
    ),
    (re.compile(r"早(?:上|晨)?(?:一|1)次晚(?:上)?(?:一|1)次"), "bid"),
    (
        re.compile(
            rf"早(?:上|晨|餐前|饭前)?(?:{NUM}|半)个?{_EACH}中(?:午|餐前|饭前)?(?:{NUM}|半)个?{_EACH}"
            rf"晚(?:上|餐前|饭前)?(?:{NUM}|半)个?{_EACH}"
        ),
        "tid",
    ),
    (
        re.compile(rf"早(?:上|晨|餐前|饭前)?(?:{NUM}|半)个?{_EACH}晚(?:上|餐前|饭前)?(?:{NUM}|半)个?{_EACH}"),
        "bid",
    ),
    (re.compile(rf"(?<![二两三四五六七八九十\d])(?:每|一)?(?:个)?(?:周|星期|礼拜)({NUM})次"), "count_week"),
    # 每两小时翻身一次 is nursing, not a dosing interval
    (
        re.compile(
            rf"每({NUM})(?:个)?小时(?:一次|1次)?(?!\s*(?:翻身|测|监测|喝|饮|进食|拍背|活动|吸痰))"
            rf"|(?<![每\d])({NUM})(?:个)?小时(?:一次|1次)"
        ),
        "hours",
    ),
    (re.compile(r"(?:隔日|隔天)(?:一次|1次)?"), "qod"),
    (re.compile(r"早晚各(?:一次|1次)?|早中晚各(?:一次)?"), "bid_tid"),
    (
        re.compile(
            rf"必要时|需要时|(?:体温|发热|发烧)超过[^，。；\s或及]{{1,10}}?(?:的)?(?:时候|时)"
            rf"|(?:体温|发热|发烧|烧)(?:到|超过|达到|高于)(?:{NUM})度(?:{NUM}|半)?(?:以上(?:的)?(?:时候|时)?|(?:的)?(?:时候|时))"
            # 发热超过三十八度五吃, 发烧三十八度五以上吃, 超过三十八度五喂: a temperature threshold before the verb
            rf"|(?:(?:体温|发热|发烧|烧)(?:到|超过|达到|高于|在)?|超过|高于)(?:{NUM})度(?:{NUM}|半)?(?:以上)?"
            r"(?:再|就|才)?(?=吃|服|用|喂|喷|给)"
            rf"|(?:血压|血糖|心率)(?:超过|高于|大于|低于|到)(?:{NUM})(?:以上|以下)?(?:的)?(?:时候|时)"
            r"|(?:血压|血糖|心率)(?:偏)?(?:高|低|快)(?:的)?(?:时候|时)|(?<![\u4e00-\u9fff])发作(?:的)?(?:时候|时)|(?<=[\d毫克片粒位])发作(?:的)?(?:时候|时)|(?:胸痛|胸闷|心绞痛|喘|气喘|气短|气促|憋气|喘憋|"
            r"头痛发作|头痛|发烧|发热|疼痛|疼|痛|失眠|睡不着|咳嗽|烧心|反酸|胃痛|腹痛|心慌|恶心|过敏|瘙痒|痒|腹泻|难受|不舒服|"
            r"憋|憋得慌|喘不上气|头晕|拉肚子|便秘|呕吐|咳|犯病|犯了|不好受)"
            r"(?:得(?:厉害|很|明显|严重)|厉害|明显|严重|加重)?(?:发作)?(?:的)?(?:时候|时(?!间))"
        ),
        "prn",
    ),
    # 每天早上顿服 is a daily dose taken at once, not a single dose
    (re.compile(r"(?:每天|每日|一天|一日)(?:早上|早晨|晨起)?顿服|(?:早上|早晨|晨起)顿服"), "qd"),
    (
        re.compile(
            r"立即(?!\s*(?:呼叫|拨打|转|停|就医|就诊|送|去|到|急诊|复诊|来|联系|告知|通知|报告|查|做|行))|单次|顿服"
            r"|(?:马上|立刻)(?=\s*(?:雾化|吸入|静推|静注|肌注|皮下注射|舌下含|含服|口服|嚼服|服|吃|用|打|给))"
        ),
        "st",
    ),
    (
        re.compile(
            rf"(?:每天|每日|一天|一日)(?=\s*(?:{NUM}|半)(?:分之{NUM})?\s*个?(?:片|粒|袋|包|支|吸|喷|揿|丸|贴|枚|单位|毫克|微克|"
            r"mg|μg|克(?!\s*(?:以上|以下|以内)))(?!\s*(?:以上|以下|以内)))"
        ),
        "qd",
    ),
    (re.compile(r"(?:每天|每日)(?:固定时间|定时)(?:一次)?"), "qd"),
)
_FREQ_TIMING: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"每晚(?:临|上床|睡觉)?睡前(?:一次)?|每晚(?:上床|睡觉)前(?:一次)?|(?:每天|每日)?(?:临|上床|睡觉)?睡前(?:一次)?|"
            r"(?:临|上床|睡觉)前(?:一次)?|每晚(?:一次)?|(?:每天)?晚上(?:一次)?"
        ),
        "qn",
    ),
    (re.compile(r"(?:早晚餐前|早晚饭前)(?:半小时|半个小时|一小时|[一二三]十分钟)?|早晚"), "bid"),
    (re.compile(r"三餐(?:前|时|后|中)?|每餐"), "tid"),
    (
        re.compile(
            r"(?:每天|每日)(?=\s*(?:吃|服|用|口服|外用|吸入|喷|滴|涂|贴|[，。；,;]|$|开(?:{NUM}|半)))".replace(
                "{NUM}", NUM
            )
        ),
        "qd",
    ),
    (
        re.compile(
            r"(?:每天|每日)?(?:早上|早晨|每早|晨起|早餐前|早饭前|早餐时|早饭时|早餐后|早饭后|早上空腹|晚饭时|晚餐时|"
            r"晚饭后|晚餐后|中午|午饭前|午饭后|午餐前|午餐后)(?:半小时|半个小时|一小时|[一二三]十分钟)?(?:空腹)?(?:一次)?"
        ),
        "qd",
    ),
)
_ST_ALONE = re.compile(
    rf"一次(?!\s*(?:{NUM}|半|性))(?=\s*(?:口服|顿服|静脉|肌注|肌内|皮下|[，。；,;]|$)|\s+(?!就|(?:{NUM})))"
)
# 只吃这一次, 就吃一次, 只用一次, 仅服一次, 一次性口服, 吃一次就行/就可以: a single dose said as such
_ST_ONLY = re.compile(
    r"(?<![天日周晚早月年次])(?:只|仅|就)(?:需|要)?(?:吃|服|用|喝|打|口服|服用)?(?:这|这么)?(?:一次|一回|一顿|一剂)"
    r"(?!\s*(?:就|再))"
    r"|一次性(?:口服|服用|服下|吃|喝|顿服|冲服)"
    r"|(?:吃|服|用|喝)(?:这)?一次就(?:行|可以|好)"
)
_NOTE = re.compile(r"饭后|餐后|饭前|餐前|随餐|餐中|空腹|睡前|嚼服|整片吞服")

# spoken forms the audit's route table does not list (雾化 alone is nebulised inhalation)
_SPOKEN_ROUTES = {
    "点眼": "滴眼",
    "滴双眼": "滴眼",
    "滴左眼": "滴眼",
    "滴右眼": "滴眼",
    "滴患眼": "滴眼",
    "点双眼": "滴眼",
    "雾化": "吸入",
    "外涂": "外用",
    "外搽": "外用",
    "涂抹": "外用",
    "涂于患处": "外用",
    "涂患处": "外用",
    "涂眼": "外用",
    "涂眼睑": "外用",
    "外洗": "外用",
    "局部涂抹": "外用",
    "皮下打": "皮下注射",
    "肌肉注射": "肌内注射",
    "静脉推注": "静脉注射",
    # 开水冲服, 温水冲服: a granule or powder dissolved in water and drunk (the formulary says 口服)
    "冲服": "口服",
}
_ROUTES = {**_SPOKEN_ROUTES, **_ROUTE_ALIASES}
_ROUTE_KEYS = sorted(
    (k for k in _ROUTES if (not k.isascii() or len(k) >= 2) and not re.search("[饭餐]", k)),
    key=len,
    reverse=True,
)
_ROUTE = re.compile(
    "|".join(
        (rf"(?<![A-Za-z]){re.escape(k)}(?![A-Za-z])" if k.isascii() else re.escape(k)) for k in _ROUTE_KEYS
    )
)
_ROUTE_EXCLUDE = {"h"}
_ROUTE_NEGATED = re.compile(r"(?:不要|不能|不可|不宜|不得|别|勿|禁止|避免|严禁)(?:再|直接)?$")
# 5mgqdpoValsartan…: a Latin route code written right after a Latin frequency code, before the next name
_ROUTE_GLUED = re.compile(
    "(?:" + "|".join(f"(?<={c})" for c in ("qd", "bid", "tid", "qid", "qn", "qw", "qod", "prn", "st")) + ")"
    r"(po|ih|sc|im|iv|inh)(?![a-z])",
    re.IGNORECASE,
)

_DURATION = re.compile(
    rf"(?<![每隔第过于])((?:{NUM})|半)\s*(个)?(天|日|周|星期|礼拜|月)"
    r"(?!\s*(?:(?:以后|之后|后)(?!就?(?:停|不吃|不用))|前|以内|内(?!裤|衣)|左右))"
    rf"|(?:(?<=[x×X*])|(?<![A-Za-z\d.]))(\d+)\s*(d|D|w|W)(?![A-Za-z])"
)
_RANGE_BEFORE_DURATION = re.compile(rf"(?:{NUM}|半)\s*(?:个)?(?:天|日|周|星期|月)?\s*(?:到|至|~|-|或)\s*$")
_NOT_DURATION_BEFORE = re.compile(r"(?:隔离|休息|观察|卧床|禁食|病假|请假|住院|停|停药|停用)$")
_NOT_DURATION_AFTER = re.compile(
    rf"\s*(?:吃|服|用)?\s*(?:{NUM}|半)\s*个?(?:次|顿|片|粒|袋|包|支|吸|喷|丸|毫克|克|单位)"
    r"|\s*(?:不超过|最多|最大|不要超过)"
    r"|\s*(?:还|仍|仍然|都)?(?:不好|不见好|没好|未好|无好转|没有好转|不缓解|没缓解|未缓解)"
    rf"|\s*(?:{NUM})\s*(?:到|至|~|-)\s*(?:{NUM})\s*(?:次|片|粒)"
)


def _frequency_code(kind: str | None, m: re.Match[str]) -> str | None:
    if kind is None:
        code = next(g for g in m.groups() if g).lower().replace(".", "")
        return {"st": "st", "prn": "prn"}.get(code, code)
    if kind == "count_day":
        f = parse_frequency(f"每日{m.group(1)}次") or parse_frequency(
            f"每日{_fmt(parse_number(m.group(1)) or 0)}次"
        )
        return f.code if f else None
    if kind == "count_day_range":
        low, high = parse_number(m.group(1)), parse_number(m.group(2))
        if low is None or high is None or high != low + 1:
            return None
        f = parse_frequency(f"每日{_fmt(high)}次")
        return f.code if f else None
    if kind == "count_week":
        n = parse_number(m.group(1))
        return "qw" if n == 1 else (f"{_fmt(n)}/周" if n else None)
    if kind == "hours":
        h = parse_number(m.group(1) or m.group(2))
        return f"q{_fmt(h)}h" if h else None
    if kind == "every_days":
        n = parse_number(m.group(1))
        return ("qw" if n == 7 else f"q{_fmt(n)}d") if n else None
    if kind == "bid_tid":
        return "tid" if "中" in m.group(0) else "bid"
    return kind


_ST_AFTER_CHARS = "克片粒袋支丸位升囊剂散液膏"
_DAILY_BEFORE = re.compile(r"每天|每日|一天|一日|每早|晨起|早上|早晨|清晨")


def find_frequencies(text: str, start: int, end: int) -> tuple[list[Candidate], list[Candidate]]:
    """Explicit frequencies (一天两次, bid, 每十二小时一次, 必要时 …) and timing phrases (睡前, 早餐前 …)
    inside ``text[start:end]``; timing phrases count as the frequency only when nothing explicit is said."""
    window = text[start:end]
    explicit: list[Candidate] = []
    for rx, kind in _FREQ_EXPLICIT:
        for m in rx.finditer(window):
            code = _frequency_code(kind, m)
            if code:
                explicit.append(Candidate(start + m.start(), start + m.end(), "frequency", code))
    for i, c in enumerate(explicit):
        if c.normalized == "st" and text[c.start : c.end] == "顿服":
            daily = _DAILY_BEFORE.search(text[max(start, c.start - 10) : c.start])
            if daily:  # 每天早上六片顿服, 晨起顿服: every day at one go
                explicit[i] = Candidate(c.start, c.end, "frequency", "qd")
    for m in _ST_ONLY.finditer(window):  # 只吃这一次, 一次性口服, 吃一次就行: one dose, no repeat
        explicit.append(Candidate(start + m.start(), start + m.end(), "frequency", "st"))
    for m in _ST_ALONE.finditer(window):
        # the character said before 一次, blanks skipped (三克 一次 睡前…: an ASR pause is no word)
        before = window[: m.start()].rstrip()[-1:]
        # 三克一次口服: after the drug's amount or name end; not 每晚一次, 翻身一次
        if not before or (
            before not in "天日周晚早上前后时各餐次晨间"
            and (not "\u4e00" <= before <= "\u9fff" or before in _ST_AFTER_CHARS)
        ):
            explicit.append(Candidate(start + m.start(), start + m.end(), "frequency", "st"))
    timing: list[Candidate] = []
    for rx, code in _FREQ_TIMING:
        for m in rx.finditer(window):
            timing.append(Candidate(start + m.start(), start + m.end(), "frequency", code))
    explicit.sort(key=lambda c: c.start)
    timing.sort(key=lambda c: c.start)
    return explicit, timing


_WEEKDAY = re.compile(
    r"(?<!\d)(?:周|星期)([一二三四五六日天])(?=周|星期|[、和及]|[一二两三四五六七八九十\d])"
)


def _mask_weekdays(window: str) -> str:
    """周一周四三点七五毫克: hide the weekday numerals so that 四三点七五 is not read as one number."""
    return _WEEKDAY.sub(lambda m: m.group(0)[:-1] + "〡", window)


def find_strengths(text: str, start: int, end: int) -> list[Candidate]:
    """Amounts per unit (5mg, 零点五克, 160/4.5μg, 150毫克/12.5毫克); mass after 每次/一次 is a dose instead."""
    window = text[start:end]
    contents = _contents(_mask_weekdays(window))
    out = [Candidate(start + s, start + e, "strength", norm) for s, e, norm, _ in contents]
    for m in _STRENGTH.finditer(_mask_weekdays(window)):
        if any(m.start() < e and s < m.end() for s, _, _, e in contents):
            continue  # part of a pen's content or a liquid's concentration
        nums = [g for g in (m.group(1), m.group(3), m.group(5)) if g]
        units = [normalize_unit(u) if u else None for u in (m.group(2), m.group(4), m.group(6))][: len(nums)]
        if not any(units) and len(nums) < 2:
            continue
        if _DOSE_PREFIX.search(window[: m.start()]):
            continue
        values = [parse_number(n) for n in nums]
        if any(v is None for v in values):
            continue
        unit_set = {u for u in units if u}
        if len(unit_set) > 1:
            norm = "/".join(f"{_fmt(v)} {u}" if u else _fmt(v) for v, u in zip(values, units, strict=True))
        else:
            norm = "/".join(_fmt(v) for v in values) + (f" {unit_set.pop()}" if unit_set else "")
        # trim a trailing numeral that belongs to the next phrase (…5mg 一天…) — the regex stops at units
        out.append(Candidate(start + m.start(), start + m.end(), "strength", norm))
    return sorted(out, key=lambda c: c.start)


_DOSE_FRACTION = re.compile(
    r"([一二三四五六七八1-8])\s*分之\s*([一二三四五六七1-7])\s*个?(片|粒|袋|包)"
    r"|(?<![\d.])([1-7])\s*/\s*([2-8])\s*(片|粒|袋|包)"
)


_RANGE_BEFORE = re.compile(rf"(?:{NUM}|半)\s*个?(?:片|粒|袋|包|支|吸|喷|揿|滴|丸)?\s*(?:到|至|~|-|或)\s*$")


def find_doses(text: str, start: int, end: int) -> list[Candidate]:
    """Amounts per administration: 一片, 半片, 一片半, 两粒, 十个单位, 6毫升, 四分之三片, 1/2片, and 每次 1.2 毫克."""
    out: list[Candidate] = []
    window = text[start:end]
    masked = _mask_weekdays(window)
    # 三百单位的笔, 十五毫克五毫升的: the product's content or concentration is no dose
    taken: list[tuple[int, int]] = [(s, tail) for s, _, _, tail in _contents(masked)]
    for m in _DOSE_FRACTION.finditer(masked):
        if m.group(1):
            den, num, unit = parse_number(m.group(1)), parse_number(m.group(2)), m.group(3)
        else:
            num, den, unit = float(m.group(4)), float(m.group(5)), m.group(6)
        if den and num and num < den:
            out.append(
                Candidate(start + m.start(), start + m.end(), "dose", f"{_fmt(round(num / den, 3))} {unit}")
            )
            taken.append((m.start(), m.end()))
    for m in _DOSE.finditer(masked):
        if any(m.start() < e and s < m.end() for s, e in taken):
            continue
        if _RANGE_BEFORE.search(window[: m.start()]):
            continue  # 一到两喷: a range is not one dose
        amount = parse_amount(m.group(1) + ("半" if m.group(3) else ""))
        unit_raw = m.group(2)
        unit = "U" if "单位" in unit_raw or unit_raw in ("IU", "U") else normalize_unit(unit_raw)
        if amount is None or amount <= 0 or unit is None:
            continue
        out.append(Candidate(start + m.start(), start + m.end(), "dose", f"{_fmt(amount)} {unit}"))
    for m in _DOSE_PUFFS.finditer(masked):  # 喷两下, 吸两下: as many puffs as said
        amount = parse_number(m.group(2))
        if amount and 0 < amount <= 10 and not any(m.start(2) < e and s < m.end() for s, e in taken):
            out.append(Candidate(start + m.start(2), start + m.end(), "dose", f"{_fmt(amount)} {m.group(1)}"))
    for m in _DOSE_MASS.finditer(masked):
        if not _DOSE_PREFIX.search(window[: m.start()]):
            continue
        amount = parse_number(m.group(1))
        unit = normalize_unit(m.group(2))
        if amount and unit:
            out.append(Candidate(start + m.start(), start + m.end(), "dose", f"{_fmt(amount)} {unit}"))
    return sorted(out, key=lambda c: c.start)


def find_routes(text: str, start: int, end: int) -> list[Candidate]:
    """Routes: 口服, 吸入, 皮下注射, 舌下含服, 静脉注射, 外用, 喷鼻, po …"""
    out = []
    for m in _ROUTE.finditer(text, start, end):
        key = m.group(0).lower()
        if (
            key in _ROUTE_EXCLUDE
            or text.startswith(("器", "装置", "剂", "雾剂"), m.end())
            or (key in ("口服", "吸入", "雾化") and text.startswith("液", m.end()))
            or (key == "吸入" and text.startswith("用", m.end()))
        ):
            continue  # 吸入器, 鼻喷剂, 口服液, 吸入用…: the device or the product's name, not the route said
        if _ROUTE_NEGATED.search(text, max(0, m.start() - 4), m.start()):
            continue  # 不要嚼服, 不能口服: a way the drug must not be taken
        route = _ROUTES.get(key)
        if route:
            out.append(Candidate(m.start(), m.end(), "route", route))
    for m in _ROUTE_GLUED.finditer(text, start, end):
        if not any(c.start < m.end() and m.start() < c.end for c in out):
            out.append(Candidate(m.start(1), m.end(1), "route", _ROUTES[m.group(1).lower()]))
    return sorted(out, key=lambda c: c.start)


def find_durations(text: str, start: int, end: int) -> list[Candidate]:
    """Prescription length: 七天, 两周, 一个月 (30 days), 28天, 30d; not 一天两次, not 两周后复查."""
    out = []
    for m in _DURATION.finditer(text, start, end):
        if m.group(4):
            days = float(m.group(4)) * (7 if m.group(5).lower() == "w" else 1)
        else:
            if _NOT_DURATION_AFTER.match(text, m.end()):
                continue
            if re.match(
                r"\s*(?:再|来)?(?:复查|复诊|随访|复测|查|门诊)", text[m.end() : m.end() + 4]
            ) and not re.search(r"(开|吃|用|带|拿|共|服)$", text[max(0, m.start() - 2) : m.start()]):
                continue  # 一个月复查 / 两周查血常规 is the follow-up, 开四周 复查… is the supply
            if _NOT_DURATION_BEFORE.search(text[max(0, m.start() - 4) : m.start()]):
                continue  # 居家隔离两周, 卧床休息三天: not how long the drug is given
            if _RANGE_BEFORE_DURATION.search(text[max(0, m.start() - 6) : m.start()]):
                continue  # 三到五天: a range is not one prescription length
            days = duration_days(m.group(1), (m.group(2) or "") + m.group(3))
        if days and 0 < days <= 400:
            out.append(Candidate(m.start(), m.end(), "duration", _fmt(days)))
    return out


def find_notes(text: str, start: int, end: int) -> list[str]:
    """Timing words said with a drug (饭后, 餐前, 睡前 …), in order, without duplicates."""
    seen: list[str] = []
    for m in _NOTE.finditer(text, start, end):
        if m.group(0) not in seen:
            seen.append(m.group(0))
    return seen


# --------------------------------------------------------------------------- demographics

_AGE = re.compile(rf"({NUM})\s*(?:周岁|岁)")
_SEX = re.compile(
    rf"(?:患者|病人)\s*(男|女)|(男|女)(?:性|患者|病人)|(男|女)\s*[，,]?\s*(?={NUM}\s*岁)|岁\s*(?:的)?(男|女)"
)
_PREGNANT = re.compile(
    rf"(?<!准备)(?<!计划)(?<!备)(?:孕\s*{NUM}\s*周|孕(?:早|中|晚)期|早孕|妊娠(?:期|状态)|怀孕了|已怀孕)"
)
_FOLLOW_UP = re.compile(r"(?<!后)复诊|来复查|续方|来拿药|来开药|拿药|老病人|老病号")
_FIRST_VISIT = re.compile(r"初诊|首诊|第一次来")


def find_demographics(text: str) -> dict[str, Any]:
    """Age, sex, pregnancy and visit type when they are said (never inferred from 阿姨/大爷)."""
    out: dict[str, Any] = {}
    m = _AGE.search(text)
    if m:
        age = parse_number(m.group(1))
        if age is not None and 0 <= age <= 120:
            out["age"] = age
    m = _SEX.search(text)
    if m:
        sex = next(g for g in m.groups() if g)
        out["sex"] = "M" if sex == "男" else "F"
    if _PREGNANT.search(text):
        out["pregnant"] = True
    if _FIRST_VISIT.search(text):
        out["visit_type"] = "初诊"
    elif _FOLLOW_UP.search(text):
        out["visit_type"] = "复诊"
    return out
