"""Split a dictation into record sections (病历书写基本规范) without relying on headings or punctuation.

Doctors dictate "主诉是…", "既往有…病史", "查体…", "诊断考虑…", "给他开…", "嘱…", but as often
just say the content: a blood pressure value starts the examination, a diagnosis followed by a
drug starts the plan. The splitter reads *events* in order — spoken cues (strong: the section's
own name; weak: words that usually open it) and entities (a vital value, a lab value, an allergy
statement, a run of diagnoses, a drug) — and opens a section when the event is allowed from the
section it is in. Weak events only move forward in the usual order, so "量血压" in the history
does not open the examination.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from toolkit.extract.numbers import NUM
from toolkit.extract.values import Candidate
from toolkit.records import RECORD_SECTIONS

ORDER = {name: i for i, name in enumerate(RECORD_SECTIONS)}
_EARLY = {None, "主诉", "现病史", "既往史", "过敏史", "个人史", "家族史"}
_AFTER_DX = {"诊断", "处理", "健康指导", "随访"}

# (section, strong?, regex). Strong cues name the section; weak ones usually open it.
_CUES: tuple[tuple[str, bool, str], ...] = (
    ("主诉", True, r"主[诉述](?:是|为|：|:)?"),
    # 病人主要是…, 这次来主要是…, 今天来是因为…: the complaint said without its name, only to open the dictation
    (
        "主诉",
        False,
        r"(?:(?:病人|患者|他|她|老人|孩子)?(?:这次|今天|这回)?(?:来|过来)?(?:主要|就)?是(?:因为|因)"
        r"|(?:病人|患者|他|她|老人|孩子)?(?:这次|今天|这回)?(?:来|过来)?主要是)",
    ),
    ("现病史", True, r"现病史(?:是|为|：|:)?"),
    ("现病史", False, r"现在(?:的)?情况(?:是)?|(?:这次|这回)(?:的)?情况(?:是)?"),
    (
        "现病史",
        False,
        r"(?:近|最近|这|此)?(?:[一二两三四五六七八九十半几\d]+)(?:个)?多?(?:天|周|星期|月|年|小时)(?:多|余)?"
        r"(?:前|以来|来(?!看|就诊|门诊|医院|这里|我这|拿|开))(?!复)|最近|近来|近期|平时|自述|自诉|病人说|患者说|一直吃|一直服|服用|吃了",
    ),
    (
        "既往史",
        True,
        r"既往史(?:是|为|：|:)?|既往(?:有|体健|无|身体|患有)?|以前有|以往有|过去有|否认[^，。；]{1,12}?病史"
        # 平时身体挺好, 以前身体很健康: the past history said without its name
        r"|(?:平时|平素|以前|以往|过去|一向|向来)身体(?:一直|一向|都|还|也)?(?:挺|很|比较|还|都|也|算)?"
        r"(?:好|健康|可以|不错|还行|硬朗)",
    ),
    (
        "过敏史",
        True,
        r"(?:药物|食物)?过敏史(?:是|为|：|:)?|(?:否认|没有|无)(?:药物|食物)?(?:及食物)?过敏(?!反应|症状|的表现)"
        # said without its name, as a negative (a said negative fills the section): 没有对什么药过敏,
        # 对什么药都不过敏, 没啥过敏的, 药物过敏没有, 过敏的话没有, 对别嘌醇不过敏
        r"|(?:(?:也|从来|从)?(?:没有|没)(?:发现)?)(?:对)?(?:什么|啥|任何)(?:药物|药|东西|食物)?(?:都|也)?过敏"
        r"|对(?:什么|啥|任何)?[^，。；,\s]{0,8}?(?:都|也)?(?:不|没有?)过敏(?!反应|症状|的表现)"
        r"|(?<!不)(?:药物|食物|药)?过敏(?:的话|的|方面|这块)?(?:没有|无|否认|也没有)(?![^，。；,\s]{0,3}(?:反应|症状|好转|缓解))",
    ),
    # 脑梗死个人史: a history of the disease said as a diagnosis, not the section's name
    ("个人史", True, r"(?<![死塞病症炎癌瘤折伤])个人史(?:是|为|：|:)?"),
    ("个人史", False, r"(?:不)?(?:吸烟|抽烟)|(?:不)?饮酒|烟酒"),
    ("家族史", True, r"家族史(?:是|为|：|:)?"),
    ("家族史", False, r"(?:父亲|母亲|父母|家里人|兄弟|姐妹|爸爸|妈妈)(?:有|患有|也有|死于)"),
    # 查题/茶体: 查体 as ASR hears it (the corrector's record words do not include 查体)
    ("体格检查", True, r"体格检查|查体|体查|查题|茶体|专科检查|体检(?:示|见|：|:)"),
    (
        "体格检查",
        False,
        r"(?:双肺|两肺)(?:[^，。；\d]{0,4}?(?:哮鸣音|湿啰音|干啰音|湿罗音|干罗音|啰音)|呼吸音|可闻|未闻)|心律齐|腹软|腹部平软|双下肢不肿|双下肢无水肿|咽部?充血|咽红|"
        r"扁桃体(?:[一二三Ⅰ1-3]度)?(?:肿大|不大)|神清"
        r"|肚子(?:是)?软"
        r"|(?<![会怕])(?:双肺|两肺|肺)(?:部|里)?(?:听着|听诊|听)?(?:没啥|没什么|干净|挺干净|挺好|没事)"
        r"|(?:咽|嗓子)(?:部)?(?:有点|有些|稍|稍微|略|轻度)(?:红|充血)"
        # 听诊双肺…: the doctor's own listening (a transcript may mishear what was heard: 听诊商废没有消民音)
        r"|(?<![外院前])听诊(?!器)",
    ),
    ("辅助检查", True, r"辅助检查|辅查|辅检|化验(?:单|结果)?(?:示|显示)?|检查结果|检验结果"),
    (
        "辅助检查",
        False,
        r"心电图|胃镜|肠镜|B超|彩超|X线|胸片|CT|肺功能|尿常规|血常规|(?:碳|C)?(?:十三|十四|13|14)?呼气试验|抗原|片子(?:显示|示|提示|看)",
    ),
    (
        "诊断",
        True,
        # 一年前诊断冠心病, 医院诊断, 当时诊断, 已经诊断: a diagnosis of the past told in the history
        r"(?<!前)(?<!曾)(?<!经)(?<!已)(?<!被)(?<!院)(?<!时)(?<!来)(?<!确)(?:初步)?诊断(?:考虑|为|是|：|:)?|印象"
        r"|(?<![A-Za-z])(?:Dx|DX)(?![A-Za-z])",
    ),
    (
        "处理",
        True,
        r"处理(?:意见)?(?:是|为|：|:)?|处置(?:是|为|：|:)?|处方|治疗(?:方案|意见|上|方面)|用药(?:上|方面|方案)"
        r"|给(?:他|她|患者|病人)?开|(?<![科院生夫所诊])开(?:了|点|药给)|医嘱"
        r"|(?<![A-Za-z])(?:Rx|RX)(?![A-Za-z])",
    ),
    (
        "处理",
        False,
        r"予以?|给予|继续|续开|(?<![持连陆手])续(?!性)|加用|改为|改成|改用|换成|停用|原方案|暂不用药|带药|拿点|立即转|建议转|转诊|转上级"
        r"|先给|(?<![科院生夫所诊])开(?!始|的|过)"
        # treatment without a drug: 冷敷四十八小时后再热敷, 抬高患肢 (not 不用开药: a drug said after it,
        # 家里有布洛芬疼得厉害可以吃, would be read as prescribed)
        r"|冷敷|热敷|抬高患肢|制动",
    ),
    ("健康指导", True, r"健康指导|健康教育|(?<!医)嘱(?:咐)?(?:患者)?"),
    (
        "健康指导",
        False,
        r"注意|低盐|低脂|饮食|戒烟|戒酒|限酒|多喝水|多饮水|减重|运动(?!前)|避免|睡眠卫生|教会|随身带|记录|"
        r"如果|出现|不要(?!再?(?:吃|用|服|打)了|嚼|掰|咬|碾|压碎|停|加那么|加这么|减那么|减这么)|喝水|饮水|及时|马上去医院|立即就医|休息|(?:每天|每日|定期|在家|家里|回家|自己)(?:监测|测)(?:空腹|餐后)?(?:血糖|血压)|"
        r"少吃|少喝|少熬夜|控制(?:体重|饮食|主食)|减轻体重|锻炼|散步|防跌倒|戴手套|打[^，。；]{0,4}疫苗|"
        r"直接去医院|马上来|随时来",
    ),
    ("随访", False, r"随访|定期复查|再来|再复诊"),
    (
        "随访",
        False,
        r"(?:[一二两三四五六七八九十\d]+|半)(?:到[一二两三四五六七八九十\d]+)?(?:个)?(?:天|周|星期|月)"
        r"(?:后|以后)(?:复查|复诊|随访|再来|门诊)|(?<![开吃用带拿服一二两三四五六七八九十\d])"
        r"(?:[一二两三四五六七八九十\d]+|半)(?:个)?(?:天|周|星期|月)(?:复查|复诊)|下次",
    ),
)
_CUE_RX = [(sec, strong, re.compile(rx)) for sec, strong, rx in _CUES]

_ALLOWED_WEAK_FROM: dict[str, set[str | None]] = {
    "主诉": {None},
    "现病史": {None, "主诉"},
    "体格检查": _EARLY,
    "个人史": _EARLY,
    "家族史": _EARLY,
    "辅助检查": _EARLY | {"体格检查"},
    "处理": {"诊断", "体格检查", "辅助检查"},
    "健康指导": _AFTER_DX,
    "随访": _AFTER_DX,
}


@dataclass(frozen=True)
class SectionSpan:
    """A section from :func:`split_sections`: name, span (blanks and punctuation trimmed), opening cue."""

    name: str
    start: int
    end: int
    cue: str | None


@dataclass(frozen=True)
class _Event:
    pos: int
    section: str
    strong: bool
    cue: str | None
    kind: str  # cue, vital, lab, allergy, dx_run, drug


_SIG_AHEAD = re.compile(
    rf"[^，。；]{{0,10}}?(?:{NUM}\s*(?:mg|g|μg|毫克|克|微克|/|片|粒|吸|喷|袋|个单位|IU|U(?![A-Za-z]))|每日|一日|每天|"
    r"一天|一次|每次|早晚|每晚|睡前|qd|bid|tid|qn|QD|BID|TID|QN|口服|肌注|肌内注射|静滴|静脉|皮下|外用|吸入|含化|"
    r"含服|皮试)"
)


def _sig_ahead(text: str, end: int, entities: list[Candidate]) -> bool:
    """The drug ending at ``end`` is followed by its own sig: no other drug said before it
    (胰岛素调整她打来得时十四个单位: the units are 来得时's, not 胰岛素's)."""
    # overlapping readings of one name (乌美溴铵 / 乌美溴铵维兰特罗吸入粉雾剂): from the end of the longest
    end = max([end, *(c.end for c in entities if c.label == "drug" and c.start < end <= c.end)])
    m = _SIG_AHEAD.match(text, end)
    return m is not None and not any(c.label == "drug" and end <= c.start < m.end() for c in entities)


def _drug_end(ev: _Event, entities: list[Candidate]) -> int:
    return next((c.end for c in entities if c.label == "drug" and c.start == ev.pos), ev.pos)


_HISTORY_AFTER = re.compile(r"(?:病)?史")
_DX_SAID_BEFORE = re.compile(r"(?:考虑|拟诊|怀疑|印象)(?:为|是)?$")
_PAST_SAID_BEFORE = re.compile(
    r"(?:以前|以往|过去|从前|平时|平素|既往|一向)(?:也|都|还|从来)?(?:没有|没|无|有|有过|得过|患过|患有|查出(?:过|有)?)"
    r"(?:过|什么)?$"
)
_YEARS_AFTER = re.compile(rf"(?:{NUM}|几|十几|好几)(?:个)?多?(?:年|个月)")
# 青霉素过敏, 头孢类的药都过敏, 盘尼西林打了过敏, 阿司匹林一吃就过敏: words of taking or of time between the
# substance and 过敏 (never a negation: 青霉素不过敏, 对头孢没有过敏 are not allergies)
ALLERGY_FILLER = (
    r"(?:类|等)?(?:的)?(?:药物|药)?(?:以前|之前|曾经|也|都|均|会|有点|"
    r"一(?:打|吃|用|输)就|(?:打|吃|用|输|服|注射)(?:了|过|完|后)?(?:就|会|也)?|打针|输液|就)?"
)
_ALLERGY_AFTER = re.compile(
    rf"^{ALLERGY_FILLER}(?:过敏|皮试(?:呈)?阳性)|^(?:类)?(?:和|、|及|跟|与)[^，。；]{{1,8}}?(?:类)?(?:都|均)?过敏"
)


# a drug reaction of the past (以前吃别嘌醇起过皮疹, 之前用头孢出过疹子): the allergy history said without
# its name; a reaction of this illness (吃了阿莫西林以后起了皮疹) is the present history
_ADR_BEFORE = re.compile(r"(?:以前|之前|曾经|过去|以往|从前)(?:也|还)?(?:吃|用|打|输|服用?)(?:了|过)?$")
_ADR_AFTER = re.compile(
    r"(?:的时候|以后|之后|后)?(?:就|也|都)?(?:起|出|长)(?:过|了)?(?:一身|全身)?(?:皮疹|疹子|红疹|荨麻疹|风团)"
)


def _entity_events(text: str, entities: Iterable[Candidate]) -> list[_Event]:
    ents = sorted(entities, key=lambda c: c.start)
    disease_spans = [(c.start, c.end) for c in ents if c.label == "disease"]
    events: list[_Event] = []
    for c in ents:
        if c.label == "drug" and any(
            s <= c.start and c.end <= e and e - s > c.end - c.start for s, e in disease_spans
        ):
            continue  # 地高辛中毒: the drug name is part of a diagnosis
        if c.label == "vital":
            events.append(_Event(c.start, "体格检查", False, None, "vital"))
        elif c.label == "lab":
            events.append(_Event(c.start, "辅助检查", False, None, "lab"))
        elif c.label in ("drug", "allergen") and _ALLERGY_AFTER.match(text[c.end : c.end + 12]):
            start = c.start - 1 if c.start > 0 and text[c.start - 1] in "对有" else c.start
            events.append(_Event(start, "过敏史", True, None, "allergy"))
        elif c.label == "drug" and (said := _ADR_BEFORE.search(text, max(0, c.start - 8), c.start)):
            if _ADR_AFTER.match(text, c.end):  # 以前吃别嘌醇起过皮疹: a reaction of the past, told as history
                events.append(_Event(said.start(), "过敏史", True, None, "allergy"))
            else:
                events.append(_Event(c.start, "处理", False, None, "drug"))
        elif c.label == "drug":
            events.append(_Event(c.start, "处理", False, None, "drug"))
    for c in ents:
        if c.label != "disease":
            continue
        said = _PAST_SAID_BEFORE.search(text, max(0, c.start - 10), c.start)
        if said:  # 以前没有高血压糖尿病, 平时没有胃病: the past history said without its name
            events.append(_Event(said.start(), "既往史", True, None, "history_said"))
        has_before = text[max(0, c.start - 1) : c.start] == "有"
        if _HISTORY_AFTER.match(text, c.end) or (has_before and _YEARS_AFTER.match(text, c.end)):
            events.append(_Event(c.start - 1 if has_before else c.start, "既往史", False, None, "history"))
    # runs of diagnoses: disease mentions separated only by short fillers (、 ? 待排 很高危)
    symptom_spans = {(c.start, c.end) for c in ents if c.label == "symptom"}
    # 幽门螺杆菌阳性: a test result named as a diagnosis; like a symptom word, it opens no 诊断 on its own
    symptom_spans |= {
        (c.start, c.end) for c in ents if c.label == "disease" and text[c.start : c.end].endswith("阳性")
    }
    diseases = [c for c in ents if c.label == "disease"]
    i = 0
    while i < len(diseases):
        if (
            (diseases[i].start, diseases[i].end) in symptom_spans
            and i + 1 < len(diseases)
            and diseases[i + 1].start - diseases[i].end <= 6
        ):
            i += 1  # a symptom-or-diagnosis word right before a diagnosis: the run starts after it
            continue
        j = i
        while (
            j + 1 < len(diseases)
            and diseases[j + 1].start - diseases[j].end <= 6
            # 既往史高血压 过敏史无 诊断冠心病: a section named in between ends the run
            and not re.search(r"史|诊断|处理|查体|检查|印象", text[diseases[j].end : diseases[j + 1].start])
            and not any(
                o.label not in ("disease",) and diseases[j].end <= o.start < diseases[j + 1].start
                for o in ents
            )
        ):
            j += 1
        run_start, run_end = diseases[i].start, diseases[j].end
        before = text[max(0, run_start - 4) : run_start]
        dual_only = all((d.start, d.end) in symptom_spans for d in diseases[i : j + 1])
        kind = f"dx_run{'_dual' if dual_only else ''}:{run_end}"
        if not re.search(r"(否认|没有|无|有|既往|父亲|母亲|合并|伴|过|见|示)$", before):
            # 考虑二型糖尿病: the word that says the diagnosis belongs to it, not to the examination before
            said = _DX_SAID_BEFORE.search(text, max(0, run_start - 4), run_start)
            events.append(_Event(said.start() if said else run_start, "诊断", False, None, kind))
        for d in diseases[i + 1 : j + 1]:  # 否认高血压糖尿病 前列腺增生 坦索罗辛…: the run may start later
            if not re.search(
                r"(否认|没有|无|有|既往|父亲|母亲|合并|伴|过|见|示)$", text[max(0, d.start - 4) : d.start]
            ):
                events.append(_Event(d.start, "诊断", False, None, kind))
        i = j + 1
    events.extend(_late_history_events(text, ents))
    events.extend(_exam_finding_events(text, ents))
    events.extend(_said_history_events(text, ents))
    return events


# the history said in the flow without a heading or a named disease (以前没有别的慢性病, 其他没病, 没什么
# 基础病, 身体一直挺好): the past history, read only before the plan (kind ``history_said``)
_PAST_SAID_PLAIN = re.compile(
    r"(?:以前|以往|过去|平时|平素|既往|从前|之前)(?:也|都|还|从来)?(?:没有|没|无)(?:得过|患过|有过|查出过?)?"
    r"(?:别的|其他|其它|什么|啥)?(?:别的|其他)?(?:的)?(?:慢性病|基础病|基础疾病|大病|疾病|病(?![毒菌人情因灶变理例])|毛病)"
    r"|(?:也|都|还)?(?:没有|没|无)(?:得过|患过|有过)?(?:什么|啥)?(?:别的|其他|其它)?(?:的)?"
    r"(?:慢性病|基础病|基础疾病|大病)"
    r"|身体(?:一直|一向|向来|素来)(?:都|还|也)?(?:挺|很|比较|算)?(?:好|健康|不错|还行|可以|硬朗)"
)
# an allergy negative said bare (不过敏, 也不过敏, 药物不过敏, 啥也不过敏): the allergy history, but not
# a condition of the plan (吃了不过敏的话继续, 皮试不过敏就打) nor a drug tolerated this time
# 其他没病, 没有别的病: the past history when said in the history; after the physical examination (查体咽红，
# 其他没什么毛病) it is the examination's own negative (kind ``history_other``)
_PAST_SAID_OTHER = re.compile(
    r"(?:没有|没|无)(?:得过|患过|有过)?(?:什么|啥)?(?:别的|其他|其它)(?:的)?(?:疾病|病(?![毒菌人情因灶变理例])|毛病)"
    r"|(?:其他|其它|别的)(?:也|都|倒|就)?(?:没有|没|无)(?:什么|啥)?(?:疾病|病(?![毒菌人情因灶变理例])|毛病|慢性病|基础病)"
)
_ALLERGY_BARE = re.compile(
    r"(?:(?:药物|药品|药|食物|食品)(?:方面|上|的话)?|(?:啥|什么|任何)(?:药|东西)?)?(?:也|都|从来|倒|还)?"
    r"(?:都|也)?(?:不|没)过敏(?!反应|症状|的表现|的话|就|再|了就|吗|不|的药|性)"
)
# 对尘螨过敏, 对皇暗过敏 (磺胺 misheard): an allergy said with its substance, known or not, opening a clause
_ALLERGY_TO = re.compile(
    r"(?:也|还|都)?对(?P<what>[^，。；;,\s]{1,6}?)(?:都|也)?过敏(?!反应|症状|的表现|的话|就|吗|不)"
)
_ALLERGY_TO_NOT = re.compile(r"[不没无否]|如果|要是|若|万一|是否|有无|会不会|可能")
_ALLERGY_NOT_IN_CLAUSE = re.compile(r"吃|用|服|打|输|涂|擦|如果|要是|若|万一|皮试|试|看看|观察|问|换")


_DENIED_BEFORE = re.compile(
    r"(?:(?<=[，,。；;\s])|^)(?:也|还|都)?(?:没有|没|无|否认)(?=[^，,。；;\s]{2,12}$)"
)
_ALLERGY_PAST_IN_CLAUSE = re.compile(r"以前|之前|过去|以往|既往|从来|平时")
# 以前吃头孢不过敏, 以前打过青霉素也不过敏: a drug taken in the past and tolerated (not 以前没有…也不过敏)
_ALLERGY_TAKEN_AFTER_PAST = re.compile(r"(?:也|都|还)?(?:吃|用|服|打|输)")
# 听了一下肺没啥, 看了一下脚, 摸了一下肚子: the examination said as the doctor's act (not 去诊所看了一下嗓子)
_EXAM_ACT = re.compile(
    r"(?:听|摸|按|看|瞧)(?:了)?一下(?:[左右双两]?(?:侧)?)"
    r"(?:心肺|双肺|两肺|肺(?!功能)|心脏(?!彩超|超声)|心(?![电脏超彩功])|肚子|腹部|双脚|双足|脚|足|嗓子|咽|喉咙|扁桃体|耳朵|鼻子|皮肤|关节|膝盖|腿|腰|后背)"
)
_EXAM_ACT_NOT_IN_CLAUSE = re.compile(r"去|到|在|医院|诊所|卫生院|药店|别人|人家|说|自己|家里|家人")


def _said_history_events(text: str, ents: list[Candidate]) -> list[_Event]:
    out = [
        _Event(m.start(), "既往史", True, m.group(0), "history_said") for m in _PAST_SAID_PLAIN.finditer(text)
    ]
    taken = {e.pos for e in out}
    out += [
        _Event(m.start(), "既往史", True, m.group(0), "history_other")
        for m in _PAST_SAID_OTHER.finditer(text)
        if m.start() not in taken
    ]
    named = [c for c in ents if c.label in ("drug", "allergen")]
    for m in _ALLERGY_BARE.finditer(text):
        # the clause said with it: back to a pause, at most ten characters in an unpunctuated transcript
        clause = max(m.start() - 11, *(text.rfind(ch, 0, m.start()) for ch in "。；;，,！!？? \t\n"))
        past = _ALLERGY_PAST_IN_CLAUSE.search(text, clause + 1, m.start())
        taken = _ALLERGY_NOT_IN_CLAUSE.search(text, past.end() if past else clause + 1, m.start())
        if taken and not (past and _ALLERGY_TAKEN_AFTER_PAST.match(text, past.end())):
            continue  # 吃了不过敏, 皮试不过敏: said of a drug taken or tested now (以前吃头孢不过敏: the history)
        start = m.start()
        if past and taken:
            start = past.start()
        else:  # 青霉素不过敏, 对头孢也不过敏: from the substance named
            sub = next((c for c in named if clause < c.start and c.end <= start and start - c.end <= 2), None)
            if sub is not None:
                start = sub.start - 1 if sub.start > clause + 1 and text[sub.start - 1] == "对" else sub.start
        out.append(_Event(start, "过敏史", True, m.group(0), "allergy"))
        # 没有胃病，不过敏: a disease denied right before the allergy negative is the past history
        prev_end = start
        while prev_end > 0 and text[prev_end - 1] in "，, \t\n、":
            prev_end -= 1
        prev = _DENIED_BEFORE.search(text, max(0, prev_end - 14), prev_end)
        if (
            prev
            and prev_end < start
            and any(c.label == "disease" and prev.end() <= c.start and c.end <= prev_end for c in ents)
        ):
            denied = text[prev.end() : prev_end]
            if not re.search(r"[，,。；;\s]", denied):
                out.append(_Event(prev.start(), "既往史", True, prev.group(0), "history_said"))
    for m in _ALLERGY_TO.finditer(text):
        clause = max(text.rfind(ch, 0, m.start()) for ch in "。；;，,！!？? \t\n")
        if text[clause + 1 : m.start()].strip() or _ALLERGY_TO_NOT.search(m.group("what")):
            continue  # only at a clause start, never a negative or a condition (对什么都不过敏 is read above)
        out.append(_Event(m.start(), "过敏史", True, m.group(0), "allergy"))
    for m in _EXAM_ACT.finditer(text):
        clause = max(text.rfind(ch, 0, m.start()) for ch in "。；;，,！!？? \t\n")
        if not _EXAM_ACT_NOT_IN_CLAUSE.search(text, clause + 1, m.start()):
            out.append(_Event(m.start(), "体格检查", False, m.group(0), "cue"))
    return out


# signs only an examination finds, said without 查体 (腰部肌肉紧张，压痛，直腿抬高试验阴性; 双膝骨擦感;
# 双足针刺觉减退足背动脉搏动可; 右侧T6到T8皮节簇集性水疱): the examination starts at the body part
# named right before the first of them
_EXAM_FINDING = re.compile(
    r"(?<!按)(?<!没有)压痛|反跳痛|叩击痛|叩痛|骨擦感|骨擦音|(?:肌肉|肌)紧张|肌力[一二三四五\dⅠⅡⅢⅣⅤ]级|病理征|"
    r"直腿抬高试验|浮髌试验|墨菲征|(?:足背|桡)动脉搏动|针刺觉|振动觉|[踝膝]反射|凹陷性水肿|簇集(?:性)?(?:水疱|丘疹)|"
    r"Dix-Hallpike|变位试验|滚转试验|颈软|心率齐|心律不齐|杂音|浅表淋巴结|鼓膜|鼻黏膜|鼻甲|咽后壁|"
    r"心肺(?:听着|听诊)?(?:没什么|没啥|无异常|未见异常|没有异常|没异常|正常|阴性)|桶状胸"
)
_EXAM_LEAD = re.compile(r"(?:[左右双两]?(?:侧)?[上下中]?[胸背腰腹颈肩]{0,2})$")


def _exam_finding_events(text: str, ents: list[Candidate]) -> list[_Event]:
    out: list[_Event] = []
    parts = [c for c in ents if c.label == "body_part"]
    for m in _EXAM_FINDING.finditer(text):
        pos = m.start()
        clause = max(text.rfind(ch, 0, pos) for ch in "。；;，,！!？? \t\n")
        part = next(
            (
                c
                for c in reversed(parts)
                if clause < c.start
                and c.end <= pos
                and pos - c.end <= 6
                # 吞咽时疼咽后壁…: a one-character part inside a word is no body part named
                and (c.end - c.start >= 2 or _EXAM_LEAD.search(text, max(0, c.start - 2), c.start).group(0))
            ),
            None,
        )
        if part is not None:
            pos = part.start
            lead = _EXAM_LEAD.search(text, max(0, clause + 1, pos - 4), pos)
            pos = lead.start() if lead else pos
        elif 0 <= pos - clause - 1 <= 8:
            pos = clause + 1  # 右外踝轻度肿胀压痛: from the start of the clause
        out.append(_Event(pos, "体格检查", False, m.group(0), "cue"))
    return out


# the history told after the plan (药先开上：…四周。受凉后鼻塞、流涕、咳嗽三天，低热…): a run of symptoms
# (or a condition) with its duration, an age said of the patient, or 最近…, at the start of a clause
_LATE_JOIN = re.compile(r"[、，,\s]*(?:和|伴|伴有|还有|及)?[、，,\s]*")
_LATE_DURATION = re.compile(
    rf"[^，。；,\s]{{0,4}}?(?:{NUM}|几|半)\s*(?:来)?(?:个)?多?(?:天|日|周|星期|月|年|小时)"
)
_LATE_OTHER = re.compile(r"(?:[一二三四五六七八九十\d]{1,3}岁|最近|近来|这几天|这段时间|这两天)")
_LATE_ONSET = re.compile(
    r"(?:昨天|前天|今天|昨晚|今早|上周|上个月|前几天)(?:早上|晚上|下午|上午|夜里|半夜)?(?:开始|起)(?:有|出现)?"
)
_CLAUSE_BEFORE = re.compile(r"(?:^|[。；;！!？?]\s*)$")
_LATE_NOT_AFTER = re.compile(
    r"\s*(?:还|仍|都|也)?(?:不好|没好|不退|不缓解|不见好|无好转|没有好转|不能缓解|以上|以后|之后|后|再|就|要|需|的话)"
)
_LATE_NOT_BEFORE = re.compile(r"(?:如果|要是|若|万一|超过|再|还|等|防止|预防|治疗|用于|除了)$")


def _late_history_events(text: str, ents: list[Candidate]) -> list[_Event]:
    out: list[_Event] = []
    by_start = {o.start: o for o in ents if o.label in ("symptom", "disease")}
    for c in ents:
        if c.label not in ("symptom", "disease"):
            continue
        # the run of symptoms this one ends: 鼻塞、流涕、咳嗽三天
        end = c.end
        nxt = c
        while True:
            join = _LATE_JOIN.match(text, end)
            after = by_start.get(join.end()) if join else None
            if after is None or after is nxt or after.end <= end:
                break
            nxt, end = after, after.end
        dur = _LATE_DURATION.match(text, end)
        if not dur or _LATE_NOT_AFTER.match(text, dur.end()):
            continue  # 咳嗽三天不好再来: advice said with a symptom, not its history
        pos = c.start
        clause = max(text.rfind(ch, 0, c.start) for ch in "。；;！!？?")
        if clause >= 0 and c.start - clause <= 10:
            pos = clause + 1  # 受凉后鼻塞…: from the start of the sentence
        while pos < c.start and text[pos] in " \t\n":
            pos += 1
        if not _LATE_NOT_BEFORE.search(text, max(0, pos - 3), pos):
            # 发热咳嗽四天: a symptom with its duration is the 主诉 (稳定型心绞痛三年: a condition, the history)
            section = "主诉" if c.label == "symptom" else "现病史"
            out.append(_Event(pos, section, False, None, "late_history"))
    symptoms = {c.start for c in ents if c.label == "symptom"}
    for m in _LATE_ONSET.finditer(text):  # 昨天开始高热: the onset of a symptom
        if any(m.end() <= st <= m.end() + 3 for st in symptoms):
            out.append(_Event(m.start(), "现病史", False, None, "late_history"))
    for m in _LATE_OTHER.finditer(text):
        before = text[max(0, m.start() - 1) : m.start()]
        if _CLAUSE_BEFORE.search(text, max(0, m.start() - 3), m.start()) or before in ("，", ",", " "):
            out.append(_Event(m.start(), "现病史", False, None, "late_history"))
    return out


_SIG_LABELS = ("dose", "frequency", "duration", "route", "strength")
_SIG_END_BEFORE = re.compile(r"(?:时|吃|用|次|天|周|片|粒|克|袋)$")


def _late_history_ok(ev: _Event, text: str, entities: list[Candidate]) -> bool:
    """After the plan, the history opens again only where the plan is over: no drug said from there on,
    and the record goes on (a vital, a lab value or a diagnosis said later)."""
    if any(
        c.label == "drug" and c.start >= ev.pos and not _ALLERGY_AFTER.match(text[c.end : c.end + 12])
        for c in entities
    ):
        return False  # (青霉素过敏 said in that history is no drug of the plan)
    clause_start = (
        ev.pos == 0
        or bool(_CLAUSE_BEFORE.search(text, max(0, ev.pos - 3), ev.pos))
        or text[ev.pos - 1] in "，, \t\n"
    )
    # unpunctuated: right after the last sig word (…零点五克发热时发热咳嗽四天)
    after_sig = any(c.end == ev.pos and c.label in _SIG_LABELS for c in entities) or bool(
        _SIG_END_BEFORE.search(text, max(0, ev.pos - 1), ev.pos)
    )
    if not (clause_start or after_sig):
        return False
    return any(c.label in ("vital", "lab") and c.start > ev.pos for c in entities) or any(
        c.label == "disease" and c.start > ev.pos for c in entities
    )


def split_sections(text: str, entities: Iterable[Candidate] = ()) -> list[SectionSpan]:
    """Sections in the order spoken, covering the text from the first section on.

    Text before the first event is the 主诉 when short (≤ 30 characters) and the 现病史 otherwise.
    """
    events: list[_Event] = []
    for sec, strong, rx in _CUE_RX:
        for m in rx.finditer(text):
            events.append(_Event(m.start(), sec, strong, m.group(0), "cue"))
    entity_list = list(entities)
    events.extend(_entity_events(text, entity_list))
    events.sort(key=lambda e: (e.pos, not e.strong))
    starts = _walk(events, text, entity_list)
    plan_at = next((pos for pos, name, _ in starts if name == "处理"), None)
    plan = _fallback_plan(events, starts, text, entity_list, before=plan_at)
    if plan is not None:
        starts = _walk(events, text, entity_list, forced=plan)
    if not text.strip():
        return []
    if not starts or starts[0][0] > 0:
        first = starts[0][0] if starts else len(text)
        pre = text[:first]
        if starts and starts[0][1] == "处理" and _PLAN_OPENER.fullmatch(pre):
            starts[0] = (0, "处理", starts[0][2])  # 药先开上：…, 先开药…: the plan said first
        elif pre.strip(" ，。,.;；:："):
            cc = _CC_DURATION.search(pre)
            follow_up = _FOLLOW_UP_CC.match(pre)
            fu_end = _reason_end(pre, follow_up.end(), entity_list) if follow_up else 0
            name = (
                "主诉"
                if (starts and (len(pre.strip()) <= 12 or cc)) or (cc and cc.start() <= 20) or follow_up
                else "现病史"
            )
            if starts and starts[0][1] == name:
                starts[0] = (0, name, starts[0][2])
            else:
                starts.insert(0, (0, name, None))
            if (
                follow_up
                and not cc
                and len(starts) > 2
                and starts[1][1] == "辅助检查"
                and starts[1][2] is None
                and starts[2][1] not in ("诊断", "处理")
                and not pre[fu_end:].strip(" ，。,.;；:：")
                and all(n != "现病史" for _, n, _ in starts)
            ):
                # 来复查血脂，低密度三点四，吃着瑞舒伐他汀…: the value right after the reason of a follow-up
                # visit, and what is told with it, is the course of the disease (the 现病史)
                starts[1] = (starts[1][0], "现病史", None)
            elif follow_up and not cc and len(starts) > 1 and starts[1][1] == "现病史":
                if starts[1][0] > fu_end:  # 来复查高血压和糖尿病他说最近…: the 现病史 starts after the reason
                    starts[1] = (fu_end, "现病史", starts[1][2])
            elif follow_up and not cc and len(pre[fu_end:].strip(" ，。,.;；:：")) >= 2:
                # 患者女六十五岁，血脂高复诊。近一个月…: the reason for the follow-up visit is the 主诉
                starts.insert(1, (fu_end, "现病史", None))
    starts = _split_chief_complaint(text, starts)
    out: list[SectionSpan] = []
    for k, (pos, name, cue) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(text)
        s, e = pos, end
        while s < e and text[s] in " \t\n，。,.;；:：、":
            s += 1
        while e > s and text[e - 1] in " \t\n，。,.;；:：、":
            e -= 1
        if e > s:
            out.append(SectionSpan(name, s, e, cue))
    return out


def _walk(
    events: list[_Event], text: str, entities: list[Candidate], forced: _Event | None = None
) -> list[tuple[int, str, str | None]]:
    starts: list[tuple[int, str, str | None]] = []
    current: str | None = None
    last_pos = -1
    planned = False
    for ev in events:
        if ev.pos < last_pos:
            continue
        if ev is not forced and not _accept(ev, current, text, entities, planned):
            continue
        planned = planned or ev.section == "处理"
        if ev.section == current:
            continue
        starts.append((ev.pos, ev.section, ev.cue))
        current = ev.section
        last_pos = ev.pos
    return starts


_TAKING_BEFORE = re.compile(
    r"(?:(?<!预防)(?<!改)(?<!加)(?<!先)(?<!再)(?<!换)(?<!可)(?<!外)(?<!去)(?<!舒)(?:吃|用|服|打)|在吃|一直|吃了|用了|用过|服用|以前|"
    r"吃着|用着|服着|打着|"
    r"原来|还在|说|对)$"
)
# a drug opening its own clause (…复查血压，阿托伐他汀…, …，再开阿卡波糖…) and no condition said before it
_PLAN_AGAIN_BEFORE = re.compile(r"[，,、]\s*(?:另外|然后|还有|同时|再|加|加用|开|再开|继续)?\s*$")
_PLAN_AGAIN_NOT = re.compile(
    r"如果|要是|假如|万一|一旦|的话|出现|高于|低于|超过|时候|时(?:再|加|吃|服|用)|不舒服|必要时"
)
_PAST_USE_AHEAD = re.compile(
    rf"[^，。；]{{0,16}}?(?:吃了|用了|服了|吃着|用着|在吃|在用|已经|一直|多年|几年|效果|没效|不管用|"
    rf"控制不好|控制不佳|控制得|还是高|(?:{NUM}|几|十几)(?:个)?多?年)"
)
_PLAN_AFTER = re.compile(r"\s*(?:继续|接着|照常)(?:吃|用|服)")
_NOT_PLAN_AFTER = re.compile(r"\s*(?:以后|之后|后|的时候|时|过敏|以来|治疗后)")


def _fallback_plan(
    events: list[_Event],
    starts: list[tuple[int, str, str | None]],
    text: str,
    entities: list[Candidate],
    before: int | None = None,
) -> _Event | None:
    """The plan was not opened where it starts (the diagnosis was not recognised): the first drug said
    with its sig (剂量, 频次, 途径) outside the past history, with no verb of past use before it, opens
    the plan — when no plan was found at all, or when the plan found starts right after that drug's
    line (…腰扭伤 布洛芬缓释胶囊零点三克一日两次 另外开…). A drug said right before it (碘伏消毒
    莫匹罗星软膏…) belongs to the plan too."""
    drugs = [ev for ev in events if ev.kind == "drug"]
    if before is not None:
        opened = [pos for pos, _, _ in starts if pos < before]
        floor = opened[-1] if opened else 0
        drugs = [ev for ev in drugs if floor <= ev.pos < before and before - _drug_end(ev, entities) <= 25]
    for i, ev in enumerate(drugs):
        section = None
        for pos, name, _ in starts:
            if pos <= ev.pos:
                section = name
        if section not in (None, "主诉", "现病史"):
            continue
        end = _drug_end(ev, entities)
        if (
            _TAKING_BEFORE.search(text[max(0, ev.pos - 3) : ev.pos])
            or _NOT_PLAN_AFTER.match(text, end)
            or _PAST_USE_AHEAD.match(text, end)
        ):
            continue
        if not (_sig_ahead(text, end, entities) or _PLAN_AFTER.match(text, end)):
            continue
        first = ev
        for prev in reversed(drugs[:i]):
            gap = text[_drug_end(prev, entities) : first.pos]
            if (
                len(gap) > 4
                or re.search(rf"{NUM}|[，。；]", gap)
                or _TAKING_BEFORE.search(text[max(0, prev.pos - 3) : prev.pos])
            ):
                break
            first = prev
        return first
    return None


# the opening sentence of a follow-up visit (血脂高复诊, 来复查, 来拿药, 来开高血脂的药, 配胰岛素): the
# 主诉 of that visit. It ends at a pause (punctuation or, in a transcript, a space) said within a few
# characters of the visit's reason, or at the end of the reason itself (来拿降压药嗯他说…: what follows
# is the 现病史)
# (风湿科开的药, 上次开过的药: a drug of the history, not the reason for the visit)
_FOLLOW_UP_VERB = (
    r"(?:复诊|复查|随诊|随访|(?:开|拿|取|配|代开)(?!的|过)(?:点|些|一些)?"
    r"(?:[^，。；,\s]{0,6}?(?:药|胰岛素)(?:(?:和|跟|及|还有)[^，。；,\s]{0,6}?(?:药|胰岛素))?))"
)
_FOLLOW_UP_CC = re.compile(
    rf"[^。；]{{0,24}}?(?:(?:来|前来|过来)?{_FOLLOW_UP_VERB})+(?:(?:的)?[^。；，,\s]{{0,6}}?[。；，,\s])?"
)
# 咳嗽三天, 头痛两小时, 咳嗽十来天, 头晕三天来看: symptom + duration (not 三天前, 三天来一直…: the 现病史)
_CC_DURATION = re.compile(
    rf"(?:{NUM}|几|半)\s*(?:来)?(?:个)?多?(?:天|日|周|星期|月|年|小时|钟头)(?:多|余|半)?"
    r"(?![前后以]|来(?!看|就诊|门诊|医院|这|我们|我这|拿|开|复))"
)


_PLAN_OPENER = re.compile(
    r"[\s，。,:：]*(?:嗯|那个|好)?[\s，,]*(?:药|处方)?(?:先|再|就)?(?:开|说|写)(?:上|了|一下)?"
    r"(?:[一二两三四五六\d]+(?:个|种|样))?(?:[^，。：:\s]{0,4}?的)?(?:药|处方)?(?:先开上|先说|吧)?[\s，。,:：]*"
)
_REASON_JOIN = re.compile(r"(?:和|跟|及|、|还有)?")
_CHECK_VISIT = ("复查", "复诊", "随访", "随诊")


def _reason_end(text: str, end: int, entities: list[Candidate]) -> int:
    """The follow-up reason ending at ``end`` without a pause goes on over the diseases named right after
    it (来复查高血压和糖尿病他说…: the reason is 复查高血压和糖尿病)."""
    if end == 0 or text[end - 1] in " \t\n，。,.;；:：" or text[max(0, end - 2) : end] not in _CHECK_VISIT:
        return end  # 来拿药高血压糖尿病都好多年了: after a drug fetched, the diseases are the history
    diseases = sorted((c for c in entities if c.label == "disease"), key=lambda c: c.start)
    while True:
        join = _REASON_JOIN.match(text, end)
        nxt = next((c for c in diseases if c.start in (end, join.end() if join else end)), None)
        if nxt is None or nxt.end > len(text):
            return end
        end = nxt.end


_CC_VISIT_AFTER = re.compile(r"\s*(?:来|过来|前来)(?:看|就诊|门诊|看看|看一下|看病)?(?:的|了)?")


def _split_chief_complaint(
    text: str, starts: list[tuple[int, str, str | None]]
) -> list[tuple[int, str, str | None]]:
    """A 主诉 is symptom + duration; what follows the first duration, when no 现病史 was opened, is the 现病史."""
    out = list(starts)
    for k, (pos, name, _cue) in enumerate(starts):
        if name != "主诉":
            continue
        end = starts[k + 1][0] if k + 1 < len(starts) else len(text)
        if k + 1 < len(starts) and starts[k + 1][1] == "现病史":
            continue
        m = _CC_DURATION.search(text, pos, end)
        # 咳嗽一周，痰黄: the story goes on after the complaint, however short
        rest = text[m.end() : end] if m else ""
        said = _CC_VISIT_AFTER.match(rest)  # 头晕三天来看: the visit itself, no story
        if m and len(rest[said.end() if said else 0 :].strip(" \t\n，。,.;；:：、")) >= 2:
            out.insert(k + 1, (m.end(), "现病史", None))
        break
    return out


# what may stand between a run of diagnoses and the first drug of the plan: punctuation, fillers,
# the phase of the disease, a prescribing verb (…高尿酸血症换成科素亚, …哮喘 那个 舒利迭)
_DX_TO_DRUG = re.compile(
    r"(?:[\s，,。；;、?？]|嗯|啊|那个|这个|那|就是|就|还是|现在就|现在|先|稳定期|急性期|恢复期|缓解期|"
    r"急性加重期?|急性发作期?|待排|待查|改用|换成|换用|改成|加用|预防|治疗|用|开|继续|给(?:他|她|你)?|予)*"
)
_ALIAS_AFTER = re.compile(r"\s*(?:也就是|就是|即)(?:那个)?\s*")
_STOP_AFTER_DRUG = re.compile(r"\s*(?:(?:先|暂|早就|已经|就)?停|(?:先|暂时?|这次)不(?:用|吃|开)(?!停))")
# a run of diagnoses closing the dictation after the plan (…最近没什么不舒服 2型糖尿病高脂血症)
_DX_AT_END = re.compile(r"[\s，,。；;、?？!！嗯啊]*$")
# …妇科看月经过多, 防止体位性低血压, 警惕消化道出血: advice about a condition, not the diagnosis
_NOT_DX_BEFORE = re.compile(
    r"(?:看|查|防止|预防|避免|以免|小心|注意|警惕|排除|除外|评估|复查|筛查|转|去|怕|会|可能|引起|导致|出现|有无|是否)$"
)


_RUN_JOIN = re.compile(r"[\s，,、;；]*(?:和|及|以及|合并|伴|伴有|还有|并)?[\s，,、;；]*")


def _tight_run(text: str, start: int, end: int, entities: list[Candidate]) -> bool:
    """The diagnoses from ``start`` to ``end`` are said one after the other (高血压2型糖尿病, 慢阻肺合并
    高血压), not across the history (冠心病支架术后三年糖尿病也控制得还行…)."""
    ds = sorted(
        (c for c in entities if c.label == "disease" and start <= c.start and c.end <= end),
        key=lambda c: c.start,
    )
    return all(
        _RUN_JOIN.fullmatch(text, a.end, b.start) for a, b in itertools.pairwise(ds) if b.start > a.end
    )


def _accept(
    ev: _Event, current: str | None, text: str, entities: list[Candidate], planned: bool = False
) -> bool:
    if ev.kind == "allergy":
        return current not in ("处理", "健康指导", "随访", "诊断")
    if ev.kind.startswith("dx_run"):
        if current in ("处理", "健康指导", "随访") and not ev.kind.startswith("dx_run_dual"):
            return bool(_DX_AT_END.fullmatch(text, int(ev.kind.split(":")[1]))) and not _NOT_DX_BEFORE.search(
                text, max(0, ev.pos - 4), ev.pos
            )
        if current in ("诊断", "处理", "健康指导", "随访"):
            return False
        if planned and _DX_AT_END.fullmatch(text, int(ev.kind.split(":")[1])):
            return True  # the plan said first, the history after it, the diagnosis last
        if current in ("体格检查", "辅助检查") and not ev.kind.startswith("dx_run_dual"):
            return True
        if re.search(r"(?:考虑|拟诊|怀疑|印象)(?:为|是)?$", text[max(0, ev.pos - 4) : ev.pos]) or re.match(
            r"(?:考虑|拟诊|怀疑|印象)", text[ev.pos : ev.pos + 2]
        ):
            return True  # 考虑腰肌劳损: said as the diagnosis
        # a run of diagnoses right before the plan (…抑郁状态 舍曲林…) is the diagnosis too
        run_end = int(ev.kind.split(":")[1])
        after = text[run_end : run_end + 4]
        # a run of diagnoses right before the plan (…抑郁状态 舍曲林50毫克…) is the diagnosis too;
        # not "高脂血症吃阿托伐他汀" (history: a verb between) nor a drug without its sig
        next_drug = next(
            (
                c
                for c in entities
                if c.label == "drug"
                and run_end <= c.start <= run_end + 12
                and _DX_TO_DRUG.fullmatch(text, run_end, c.start)
            ),
            None,
        )
        if next_drug is not None and _tight_run(text, ev.pos, run_end, entities):
            sig_from = next_drug
            alias = _ALIAS_AFTER.match(text, next_drug.end)
            if alias:  # 施慧达就是苯磺酸左旋氨氯地平加到五毫克: the sig follows the name it stands for
                sig_from = next(
                    (c for c in entities if c.label == "drug" and c.start == alias.end()), next_drug
                )
            if _sig_ahead(text, sig_from.end, entities) or _STOP_AFTER_DRUG.match(text, next_drug.end):
                return True
        return bool(
            re.match(
                r"[\s，,。?？]*(?:待排|待查)?[\s，,。]*(?:处理|处方|给予|予|暂不用药|建议转|转|续|继续|开|带药|拿|给(?:你|他|她|患者|病人)?开)",
                after,
            )
        )
    if ev.kind == "drug":
        if current == "诊断":
            return True
        # no diagnosis said: a drug followed by its sig still opens the plan (…开药 二甲双胍0.5g tid)
        taking = re.search(
            r"((?<![先再去改加换可外舒])(?:吃|用|服)|服用|在吃|一直|(?<!继续)打|(?:吃|用|服|打)着)$",
            text[max(0, ev.pos - 3) : ev.pos],
        )
        early = current is None and ev.pos <= 12  # "开药 二甲双胍…" with nothing else said
        end = _drug_end(ev, entities)
        if current in ("随访", "健康指导") and planned:
            # 处理：氨氯地平…，两周后复查血压，阿托伐他汀20毫克每晚一次: a drug with its sig opening a clause
            # after a follow-up or advice clause is the plan again (not 如果血压高加服硝苯地平10毫克: a condition)
            sentence = text[max(0, ev.pos - 40) : ev.pos]
            sentence = re.split(r"[。；;！!？?\n]", sentence)[-1]
            return (
                _PLAN_AGAIN_BEFORE.search(sentence) is not None
                and not _PLAN_AGAIN_NOT.search(sentence)
                and not taking
                and _sig_ahead(text, end, entities)
                and not _PAST_USE_AHEAD.match(text, end)
            )
        return (
            (current in ("主诉", "过敏史", "体格检查", "辅助检查") or early)
            and not taking
            and _sig_ahead(text, end, entities)
            and not _PAST_USE_AHEAD.match(text, end)
        )
    if ev.kind == "late_history":
        return current == "处理" and _late_history_ok(ev, text, entities)
    if ev.kind == "history":
        return current in _EARLY and current != "既往史"
    if ev.kind == "history_other":
        # after a value said in the history (空腹血糖八点几，其他没病) it is still the history
        return (current in _EARLY or current == "辅助检查") and current != "既往史"
    if ev.kind == "history_said":  # said in so many words: also after the examination's first values
        return current not in (*_AFTER_DX, "既往史")
    if ev.kind == "vital":
        return current in _EARLY
    if ev.kind == "lab":
        return current in _EARLY | {"体格检查"}
    if ev.strong:
        # 嘱 inside the history is rare; 嘱 after the plan is the norm
        return not (ev.section == "健康指导" and current in _EARLY)
    allowed = _ALLOWED_WEAK_FROM.get(ev.section)
    if allowed is None:
        return False
    if current not in allowed:
        return False
    return ORDER[ev.section] > (ORDER[current] if current else -1)
