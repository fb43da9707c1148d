"""From candidate spans to entities, prescription items and the record (pure functions, no spaCy).

The spaCy components in :mod:`toolkit.extract.pipeline` call these; tests call them directly.
Steps: refine lexicon spans (drug dosage forms, diagnosis grades; a name ending in a dosage form
and followed by its sig is a drug even when the vocabulary does not know it), split sections, read
the prescription lines inside 处理 (what is said after a change or correction — 加到, 改成, 写错了 —
replaces what was said before it; a drug stopped, avoided or switched to another is not an item),
decide labels from context (allergy statements, 失眠 as a symptom or a diagnosis), resolve overlaps
(longest first), flag negation, build the items.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from toolkit.extract import values as V
from toolkit.extract.records import Entity, EntityLabel, ExtractedItem, Section
from toolkit.extract.sections import ALLERGY_FILLER as _ALLERGY_FILLER
from toolkit.extract.sections import SectionSpan, split_sections
from toolkit.extract.values import Candidate
from toolkit.knowledge.names import DOSAGE_FORMS
from toolkit.records import LAB_NAMES, Diagnosis

_EXTRA_FORMS = (
    "粉雾剂",
    "吸入粉雾剂",
    "鼻喷雾剂",
    "混悬滴剂",
    "乳胶剂",
    "口服溶液",
    "滴丸",
    "胶丸",
    "散",
    "贴",
    "含片",
    "干混悬剂",
    "缓释胶囊",
    "咀嚼片",
    "注射液",
    "口服液",
    "颗粒",
    "混悬液",
    "贴膏",
    "凝胶贴膏",
    "滴耳液",
    "眼膏",
    "洗剂",
    "搽剂",
    "雾化液",
    "吸入气雾剂",
    "眼用凝胶",
    "滴鼻液",
    "栓剂",
    "含漱液",
    "漱口液",
    "酊",
)
# Forms for the skin, eye, ear or nose: the formulary entries are the systemic drug, so a name extended
# over one of these (双氯芬酸钠凝胶, 左氧氟沙星滴眼液, 布地奈德鼻喷雾剂) keeps no formulary id.
_LOCAL_FORMS = (
    "凝胶",
    "软膏",
    "乳膏",
    "眼膏",
    "滴眼液",
    "滴耳液",
    "滴鼻液",
    "鼻喷雾剂",
    "洗剂",
    "搽剂",
    "贴膏",
    "栓",
    "含漱液",
    "漱口液",
    "酊",
)
_FORMS = tuple(sorted(set(DOSAGE_FORMS) | set(_EXTRA_FORMS), key=len, reverse=True))
_SALT_SUFFIX = ("钙", "钠", "钾", "镁", "酯")
_SALT_PREFIX = (
    "苯磺酸",
    "马来酸",
    "甲磺酸",
    "盐酸",
    "硫酸氢",
    "硫酸",
    "酒石酸",
    "琥珀酸",
    "富马酸",
    "枸橼酸",
    "门冬氨酸",
)
_CONCENTRATION_BEFORE = re.compile(r"(?<![\d.])\d{1,2}(?:\.\d{1,2})?\s*%$")
_GRADE = re.compile(r"(?:病)?(?:\s*([1-3一二三])\s*级|\s*([1-5一二三四五])\s*([abAB])?\s*期)")
_CN_SMALL = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}

_PRIORITY = {
    "vital": 0,
    "lab": 0,
    "drug": 1,
    "disease": 2,
    "allergen": 3,
    "symptom": 4,
    "body_part": 5,
    "strength": 6,
    "dose": 6,
    "frequency": 6,
    "route": 6,
    "duration": 6,
}

_NEGATION = re.compile(r"(否认|没有|无|不伴|未见|未闻及|未触及|未及|没)([^，。；,;!！?？]{0,8})$")
_NEGATION_BREAK = re.compile(r"出现|但|伴有|偶有|有时|还有")
# used with match(pos) after the drug: X停用, X先停, X二十毫克停用, X立即停用, X也停掉
_STOPPED_AFTER = re.compile(
    rf"\s*(?:(?:{V.NUM})\s*(?:mg|毫克|g|克|μg|微克)\s*)?(?:立即|马上|立刻)?(?:先|暂时|暂)?"
    r"(?:也|都|一起|同时|也先)?(?:可以|就)?(?:停(?:用|掉|药|服)?|不用了|不吃了|减停)"
    r"|\s*(?:以后|之后|今后)?(?:都|也)?(?:(?:不要|别|不|不能)再(?:吃|用|服|打)|不(?:吃|用|服|打)了)"
)
# X换成Y / X改为Y: the drug said before the switch is not prescribed (when the next drug follows the cue)
_SWITCH_CUE = re.compile(r"换成|换为|换用|改成|改为|改用|替换为|替换成")
# 原来五毫克加到十毫克, 从一天一片改成一天两次, 每次两粒这个写错了改成每次一粒: what is said after the last
# change or correction replaces what was said before it, field by field
_CHANGE = re.compile(
    r"改成|改为|换成|换为|改用|加到|加至|增加到|增至|增加至|减到|减至|减少到|减少至|减为|减成|加成|调到|调为|调至|"
    r"调整为|调整到|加量到|加量为|加量至|减量到|减量为|减量至|升到|升至|降到|降至|降为|写错了|说错了|说错|写错|更正|纠正|"
    r"不对|应该是|重说|(?:哦|噢|喔|啊|呃)不是|(?:哦|噢|喔|呃)不(?=[，,。；\s])|(?<=[，,\s])不是(?=\s*[，,])|"
    r"重新说|改一下"
)
_AVOID_BEFORE = re.compile(
    r"(?:避免|不要|禁用|慎用|(?<!分)别|勿|不宜|不能|不可|忌)(?:再)?(?:使用|服用|用|吃|服|合用|自行服用)?$"
    r"|(?:^|[^要能可])不(?:用|开|给)$"
    r"|不再(?:吃|用|服|打)$"  # 不再吃阿卡波糖了
)
_STOPPED_BEFORE = re.compile(r"(?:停用|停掉|停)\s*$")
_ALLERGY_AFTER = re.compile(rf"^{_ALLERGY_FILLER}(?:过敏|皮试(?:呈)?阳性)")
# 对阿莫西林有过敏反应, 吃了头孢以后过敏, 青霉素皮试过敏: allergy statements the shared filler does not cover
_ALLERGY_MORE = re.compile(
    r"(?:类)?(?:的)?(?:药物|药)?(?:(?:以前|之前|曾经)?(?:有|出现|发生|出)过?|皮试(?:结果)?|"
    r"(?:(?:吃|用|打|输|服)(?:了|过|完)?)?(?:以后|之后|后))(?:就|也|都)?(?:过敏)"
)
_IF_ALLERGIC_AFTER = re.compile(r"(?:反应)?(?:的话|了?(?:就|要)?(?:马上|立即|立刻|赶紧)?停)")
_ALLERGY_AND = re.compile(r"(?:类)?(?:和|、|及|以及|跟|与|还有|或)")
_ALLERGY_NEG = re.compile(r"(否认|没有|无|没)(?:对|(?:打|吃|用|服)(?:过)?)?$")
# A drug reaction told without the word 过敏 (以前吃别嘌醇起过皮疹, 上次打头孢曲松全身起红疹, 阿司匹林吃了会喘,
# 吃了阿莫西林以后起了皮疹): the drug is an allergen, so that the audit sees it. A taking word next to the drug
# (吃/用/打/输/服 before it, or 吃了/用了 after it), then within the clause the onset of an allergic sign.
_TAKE_BEFORE = re.compile(r"(?:吃|用|打|输|服|服用|使用|注射|静点|挂)(?:了|过)?(?:点|一次|一回|几次)?$")
_TAKE_AFTER = re.compile(r"(?:片|针|药)?(?:一|以前|之前|上次)?(?:吃|用|打|输|服|服用|注射|挂)(?:了|过|完)?")
_RASH = r"(?:皮疹|疹子|红疹|荨麻疹|风团|风疙瘩|疙瘩|红点|红斑|水疱|水泡|药疹|疹)"
_REACTION = re.compile(
    rf"(?:起|出|长|发|冒|出现|出了|起了)(?:了|过)?[^，。；;,]{{0,4}}?{_RASH}"
    r"|(?:会|就|马上|立刻|立马|开始|都)(?:喘|气喘|憋气|憋得慌|喘不上气|呼吸困难|哮喘发作|犯哮喘|发哮喘)"
    r"|(?:喘|憋)(?:不上气|起来了|得厉害)|诱发(?:了)?哮喘|哮喘(?:就)?(?:发作|犯了)"
    # swelling of the lips, eyelids or face, or a tight throat (not 嗓子肿: a sore throat's own sign)
    r"|(?:嘴唇|眼皮|眼睑|脸|面部|喉头)(?:都|就|一下)?(?:肿|水肿)|(?:嗓子|喉咙)(?:眼)?(?:都|就|一下)?(?:发紧|紧得|憋得)"
    r"|(?:过敏性)?休克|(?:全身|浑身|身上)(?:都|就)?(?:发)?痒"
)
# signs where a drug was injected (打胰岛素的地方起了红点, 打甘精胰岛素肚皮上起了疙瘩, 针眼发红, 硬结,
# 脂肪增生: lipohypertrophy or a local reaction) are no allergy, unless said of the whole body (全身起红疹)
_INJECTION_SITE = re.compile(
    r"(?:打|注射|扎)[^，。；;,]{0,12}?(?:的地方|的位置|的部位)|打针处|针眼|针口|注射(?:部位|处|点)|局部|"
    r"硬结|硬块|脂肪增生|皮下结节"
)
_INJECTED_PART = re.compile(r"肚皮|肚子|腹部|腹壁|肚脐|大腿|胳膊|上臂|屁股|臀部")
_INJECTION_WORD = re.compile(r"打|注射|扎|皮下")
_SYSTEMIC = re.compile(r"全身|浑身|满身|身上|四肢|躯干|脸上|面部|前胸|后背|风团|风疙瘩|荨麻疹")
# given under the skin: a bare lump or red spot after them is the injection site's
_SUBCUTANEOUS = re.compile(r"胰岛素|鲁肽|那肽|肝素")
# an anti-infective taken for the illness: wheeze after it is the illness's own when the story has it
_ANTI_INFECTIVE = re.compile(r"西林|头孢|霉素|沙星|环素|硝唑|磺胺|培南|他韦|洛韦|抗生素|消炎药")
_RESPIRATORY_STORY = re.compile(r"咳|喘|憋|气促|气短|气急|支气管|肺炎|慢阻肺|哮喘|咽痛|嗓子")
# what ends the clause of a reaction; what makes it no reaction (吃了没起过疹子) or a hypothetical one (如果起皮疹马上停)
_REACTION_STOP = re.compile(r"[。；;！!？?\n]")
_REACTION_NOT = re.compile(
    r"[没不未无别]|否认|如果|要是|假如|万一|一旦|若|如有|如出现|的话|注意|观察|留意|警惕|可能|有没有|会不会|是否"
)
_REACTION_INSTRUCTION_AFTER = re.compile(
    r"(?:的话|就|要|请)?(?:马上|立即|立刻|及时|赶紧|赶快)?(?:停|来|复诊|就诊|去医院|告诉)"
)
_REACTION_PAST = re.compile(r"以前|之前|上次|曾经|以往|过去|小时候|那次|去年|前年|年轻时|早年|原来|从前|过")
# foods and things around us named as allergens: their reactions are no drug allergy read here
_NOT_A_DRUG = re.compile(
    r"花粉|尘螨|螨虫|猫毛|狗毛|动物毛|海鲜|鱼虾|虾|蟹|鸡蛋|牛奶|奶粉|花生|坚果|芒果|菠萝|小麦|大豆|乳胶|酒精|胶布"
)
# a relative's allergy (他妈妈青霉素过敏, 家里人对头孢过敏) is no allergy of the patient
_RELATIVE_BEFORE = re.compile(
    r"(?:妈妈|母亲|父亲|爸爸|老伴|爱人|丈夫|老公|妻子|老婆|儿子|女儿|哥哥|姐姐|弟弟|妹妹|家里人|家人|家属|亲戚|"
    r"家族|家里有人|(?:他|她|的|孩子)(?:爷爷|奶奶|外公|外婆|姥姥|姥爷|爸|妈))"
    r"(?:(?!说|讲|诉|称|反映|孩子|患者|病人|本人|自己|他|她)[^，。；;,]){0,6}$"
)
_DISTRIBUTIVE = re.compile(r"(都|各|均|全部|统一)[^，。；]{0,3}$")
# 以上均一日两次, 都是一天一次: a frequency said for all lines (not 早晚各一次, 每侧鼻孔各一喷: one line's own)
_DISTRIBUTIVE_FREQ = re.compile(r"(?:都|均|全部|统一)(?:是|为|按)?$")
# 早上八个单位, 早上加到二十个单位, 晚上还是十四个单位: a dose said for one time of the day
_DOSE_AFTER = re.compile(
    rf"\s*(?:加到|加至|减到|减至|改成|改为|调到|也是|还是|仍是|仍然是|仍|照旧|是|也|打|吃)?\s*(?:{V.NUM}|半)\s*个?"
    r"(?:片|粒|袋|包|支|吸|喷|丸|单位)"
)
_DILUENT = re.compile(
    rf".*?(?P<cue>加入|加到|加进|溶于|溶入|兑|配)(?:到)?(?P<name>生理盐水|0\.9%氯化钠注射液|氯化钠注射液|"
    rf"5%葡萄糖注射液|葡萄糖注射液|注射用水|NS|GS)(?:\s*(?:{V.NUM})\s*(?:毫升|ml|mL|ML)(?:里|中|内)?)?"
)
_INJECTED = re.compile(r"(?:注射液|注射剂|注射笔|笔芯|针)$")
_INJECTED_SIG = re.compile(r"皮下注射|皮下打|肌内注射|肌注")
_TITRATE_BEFORE = re.compile(
    r"(?:加到|加至|增加到|增加至|增至|减到|减至|调到|调至|调整到|调整为|加量到|加量至)$"
)
_TITRATE_FROM = re.compile(rf"从\s*(?:{V.NUM})\s*(?:mg|毫克|μg|微克)")
_SLOT_BEFORE = re.compile(r"(?:早上|早晨|中午|晚上|睡前|[早午晚][餐饭]前)$")
# 早餐前十六个单位晚餐前加到十六个…: amounts said for two times of the day (the doses split over the day)
_SLOT_DOSE = re.compile(
    rf"(早上|早晨|中午|晚上|睡前|[早午晚][餐饭]前)\s*(?:加到|加至|减到|减至|改成|改为|调到|也是|还是|仍是|仍然是|是|也|打)?\s*"
    rf"(?:{V.NUM}|半)\s*(?:个单位|单位|个|片|粒|袋|包|支|吸|喷|丸)"
)
_ORAL_FORM = re.compile(r"(?:片|胶囊|颗粒|散|丸|口服液|口服溶液|混悬液|糖浆)$")
# the times of the day a dose is said for (早餐前十六个单位晚餐前十八个单位, 早上两片晚上一片, 早一片晚半片)
_SLOT_MARK = re.compile(
    r"(早上|早晨|早餐前|早饭前|早餐后|早饭后|中午|午餐前|午饭前|午餐后|午饭后|晚上|晚餐前|晚饭前|晚餐后|晚饭后|睡前|"
    r"(?<![早每])早(?!晚|餐|饭)|(?<![早每傍])晚(?!餐|饭))"
    rf"(?=\s*(?:加到|加至|减到|减至|改成|改为|调到|也是|还是|仍是|仍然是|是|也|打|吃|服)?\s*(?:{V.NUM}|半)\s*个?"
    r"(?:片|粒|袋|包|支|吸|喷|丸|单位|个单位))"
)
_SLOT_SEGMENT_END = re.compile(r"[。；;]")
_UNIT_SAID = {"U": "单位"}


def _split_doses(text: str, start: int, end: int, cut: int | None) -> tuple[Candidate, str] | None:
    """Different doses said for two or three times of the day (门冬胰岛素30早餐前十六个单位晚餐前十八个单位,
    早上两片晚上一片): the larger single dose, and what was said for each time (早餐前16单位，晚餐前18单位).

    The item has one dose. A pharmacist accepts the line written as the larger single dose with the
    frequency of the times said (bid/tid) and the doses per time in its note: the audit's single-dose and
    daily limits are then checked against the larger dose (conservative: a daily total read as larger × n is
    never below the real one), and the note keeps the regimen as said for the label. Equal doses at each
    time are no split (None). A time whose dose cannot be read leaves the line as read (None)."""
    marks = [m for m in _SLOT_MARK.finditer(text, start, end) if cut is None or m.start() >= cut]
    if len(marks) < 2:
        return None
    doses = V.find_doses(text, start, end)
    said: list[tuple[str, Candidate]] = []
    for k, m in enumerate(marks):
        seg_end = marks[k + 1].start() if k + 1 < len(marks) else end
        stop = _SLOT_SEGMENT_END.search(text, m.end(), seg_end)
        seg_end = stop.start() if stop else seg_end
        in_seg = [c for c in doses if m.end() <= c.start < seg_end]
        if not in_seg:
            return None
        changes = [c.end() for c in _CHANGE.finditer(text, m.end(), seg_end)]
        after = [c for c in in_seg if changes and c.start >= changes[-1]]
        said.append((m.group(1), after[0] if after else in_seg[0]))
    parsed = []
    for slot, c in said:
        amount, _, unit = (c.normalized or "").partition(" ")
        try:
            parsed.append((slot, float(amount), unit, c))
        except ValueError:
            return None
    if len({p[2] for p in parsed}) != 1 or len({p[1] for p in parsed}) == 1:
        return None
    if len({p[0][0] for p in parsed}) != len(parsed):
        return None  # the same time said twice (a change said again): not a split over the day
    chosen = max(parsed, key=lambda p: p[1])[3]
    note = "，".join(f"{slot}{amount:g}{_UNIT_SAID.get(unit, unit)}" for slot, amount, unit, _ in parsed)
    return chosen, note


_HISTORY_SECTIONS = {"主诉", "现病史", "既往史"}


@dataclass(frozen=True)
class Analysis:
    """Everything the record is built from."""

    sections: tuple[SectionSpan, ...]
    entities: tuple[Entity, ...]
    items: tuple[ExtractedItem, ...]


def refine_lexicon(text: str, cands: Iterable[Candidate]) -> list[Candidate]:
    """Extend drug names over salts and dosage forms (阿托伐他汀钙片, 苯磺酸左旋氨氯地平片) and
    diagnoses over grades and stages (高血压3级, 慢性肾脏病3b期 → N18.3)."""
    out: list[Candidate] = []
    said: dict[tuple[int, int], int] = {}  # refined drug span → length of the longest name read in it
    for c in cands:
        if c.label == "drug":
            start, end = c.start, c.end
            for prefix in (*_SALT_PREFIX, "小儿", "注射用", "吸入用", "微粒化"):
                if text[max(0, start - len(prefix)) : start] == prefix:
                    start -= len(prefix)
                    break
            conc = _CONCENTRATION_BEFORE.search(text, max(0, start - 8), start)
            if conc:  # 50%葡萄糖注射液, 0.9%氯化钠: the concentration is part of the product name
                start = conc.start()
            for _ in range(2):
                moved = False
                if (
                    end < len(text)
                    and text[end] in _SALT_SUFFIX
                    and not text[c.start : end].endswith(text[end])
                ):
                    end += 1
                    moved = True
                for form in _FORMS:
                    if text.startswith(form, end):
                        end += len(form)
                        moved = True
                        break
                if not moved:
                    break
            if end < len(text) and text[end] in "ⅠⅡⅢⅣ":
                end += 1
            norm = c.normalized
            if norm and any(f in text[c.end : end] for f in _LOCAL_FORMS):
                norm = None
            if said.get((start, end), -1) >= c.length:
                continue  # 头孢呋辛+酯片 vs 头孢呋辛酯+片: the name read whole decides the drug
            if (start, end) in said:
                out = [o for o in out if not (o.label == "drug" and (o.start, o.end) == (start, end))]
            said[(start, end)] = c.length
            out.append(replace(c, start=start, end=end, normalized=norm))
        elif c.label == "disease":
            if text[c.end - 1] == "病" and text.startswith("史", c.end) and c.length > 3:
                c = replace(c, end=c.end - 1)  # 高血压病史 → 高血压 + 病史
            m = _GRADE.match(text, c.end)
            if m and not (m.group(1) and c.normalized and not c.normalized.startswith("I1")):
                norm = c.normalized
                if m.group(2) and norm == "N18.9":
                    stage = _CN_SMALL.get(m.group(2)) or int(m.group(2))
                    norm = f"N18.{stage}"
                out.append(replace(c, end=m.end(), normalized=norm))
            else:
                out.append(c)
        else:
            out.append(c)
    return out + unknown_drugs(text, out)


# ------------------------------------------------------------------ drugs the vocabulary does not know

_UNKNOWN_FORMS = re.compile(
    r"吸入气雾剂|吸入粉雾剂|粉吸入剂|鼻喷雾剂|气雾剂|喷雾剂|粉雾剂|吸入剂|滴眼液|滴耳液|眼用凝胶|凝胶贴膏|"
    r"贴膏|凝胶|软膏|乳膏|眼膏|洗剂|搽剂|口服液|口服溶液|混悬液|干混悬剂|注射液|缓释胶囊|肠溶胶囊|"
    r"软胶囊|胶囊|缓释片|控释片|肠溶片|分散片|咀嚼片|泡腾片|含片|颗粒|滴丸|胶丸|糖浆|片"
)
# characters that do not occur in an unknown drug name said in a plan (numbers, sig words, verbs, diseases)
_NOT_NAME = set(
    "的了吗呢吃服用开给予加换改续每次天日周月年一两三四五六七八九十半个和及或与再先后前早晚餐饭时候等也都各共"
    "在是有没无不要可以需病症炎痛伤疼查检测复诊拍胸照切名药物说讲嘱建议减增量为到至成原现从由"
)
_DX_END = set("炎病症疮征伤")
_NAME_CUES = (
    "处理",
    "医嘱",
    "带药",
    "加用",
    "改用",
    "换用",
    "换成",
    "改成",
    "改为",
    "继续",
    "另外",
    "还有",
    "外用",
    "处方",
    "联合",
    "配合",
    "合用",
    "给予",
    "予以",
    "开",
    "给",
    "予",
    "加",
    "和",
    "及",
    "用",
    "吃",
    "服",
)
_SIG_START = re.compile(
    rf"\s*(?:(?:{V.NUM}|半)\s*(?:mg|g|μg|ug|毫克|克|微克|片|粒|袋|包|支|吸|喷|揿|滴|贴|毫升|ml|个单位|单位)"
    r"|每次|一次|每日|每天|一天|一日|每晚|每早|早晚|睡前|必要时|外用|口服|吸入|含服|嚼服|滴眼|喷鼻|涂|"
    r"qd|bid|tid|qn|QD|BID|TID)"
)


def unknown_drugs(text: str, known: Sequence[Candidate]) -> list[Candidate]:
    """A name ending in a dosage form and followed by its sig (依托考昔片一百二十毫克, 阿达帕林凝胶每晚外用)
    is a drug even when the vocabulary does not know it; the name must start at a clear boundary (after
    another mention, a plan cue or punctuation) and is given no formulary id."""
    ends = {c.end for c in known}
    out: list[Candidate] = []
    for m in _UNKNOWN_FORMS.finditer(text):
        if any(c.start < m.end() and m.start() < c.end for c in known) or not _SIG_START.match(text, m.end()):
            continue
        start = m.start()
        boundary = False
        while start > 0 and m.start() - start < 7:
            if (
                start in ends
                or any(text.endswith(cue, 0, start) for cue in _NAME_CUES)
                or _SIG_END_BEFORE.search(text, max(0, start - 5), start)
            ):
                boundary = True
                break
            ch = text[start - 1]
            if not "\u4e00" <= ch <= "\u9fff":
                boundary = True
                break
            if ch in _DX_END:  # …冠周炎 头孢克洛胶囊: a diagnosis the vocabulary does not know ends here
                boundary = True
                break
            if ch in _NOT_NAME:
                break
            start -= 1
        else:
            boundary = start == 0
        if (
            boundary
            and 2 <= m.start() - start <= 7
            and not any(c.start < m.end() and start < c.end for c in known)
        ):
            out.append(Candidate(start, m.end(), "drug", None, "rule"))
    # no dosage form said: a name right after another mention or a plan cue, followed by a strength in mass
    # units and a frequency (…痛风急性发作 依托考昔一百二十毫克每天一次)
    drug_ends = {c.end for c in known if c.label == "drug"}
    for m in _BARE_SIG.finditer(text):
        end = m.start()
        if end in ends or any(c.start <= end < c.end for c in [*known, *out]):
            continue
        start = end
        boundary = False
        while start > 0 and end - start < 6:
            if start in ends or any(text.endswith(cue, 0, start) for cue in _NAME_CUES):
                boundary = True
                break
            ch = text[start - 1]
            if not "\u4e00" <= ch <= "\u9fff" or ch in _NOT_NAME or ch in _NUM_CHARS:
                break
            start -= 1
        if _NOT_A_NAME.match(text, start, end):
            continue
        if start in drug_ends and end - start <= 2:
            continue  # 阿莫西林教囊0.5克: two characters glued to a drug name are its mis-heard form, not a drug
        if (
            boundary
            and 2 <= end - start <= 6
            and not any(c.start < end and start < c.end for c in [*known, *out])
        ):
            out.append(Candidate(start, end, "drug", None, "rule"))
    return out


# the end of the previous line's sig (…一天两次鼻喷 奥洛他定滴眼液…): the next name starts here
_SIG_END_BEFORE = re.compile(
    r"(?:[一两二三四]次|鼻喷|喷鼻|滴眼|滴耳|雾化|吸入|口服|含服|嚼服|皮下注射|静滴|静脉滴注)$"
)
_NOT_A_NAME = re.compile(r"(?:首剂|首次|首日|负荷量|负荷剂量|维持量|剂量|单次|每次|一次|规格(?:是|为)?)$")
_NUM_CHARS = set("零〇一二两三四五六七八九十百千点幺")
_BARE_SIG = re.compile(
    rf"(?:{V.NUM})\s*(?:mg|毫克|g|克|μg|微克)(?=[^，。；]{{0,4}}?(?:每日|每天|一天|一日|每晚|睡前|qd|bid|tid|qn|"
    r"QD|BID|TID|QN|必要时))"
)


_CLAUSE_BREAK = re.compile(r"[，,。；;]")


# drugs dosed in units (依诺肝素4000单位, 促红素3000单位, 干扰素, 胰激肽原酶, 尿激酶), by formulary id or name
_UNIT_DOSED_ID = re.compile(
    r"insulin|heparin|parin$|poetin|interferon|kallidinogenase|urokinase|streptokinase|batroxobin|defibrase"
)
_UNIT_DOSED_NAME = re.compile(r"胰岛素|肝素(?!癸)|促红|干扰素|胰激肽原酶|尿激酶|链激酶|巴曲酶|降纤酶")


def _unit_dose_ok(name: str, drug_id: str | None) -> bool:
    """A dose in units (十个单位) belongs to an insulin (or another unknown injectable), not to a tablet or a
    formulary drug dosed by mass."""
    if drug_id:
        return bool(_UNIT_DOSED_ID.search(drug_id)) or bool(_UNIT_DOSED_NAME.search(name))
    return not _ORAL_FORM.search(name)


def _section_at(pos: int, sections: Sequence[SectionSpan]) -> str | None:
    current = None
    for s in sections:
        if s.start <= pos:
            current = s.name
        else:
            break
    return current


_BODY_EXCLUDE = re.compile(r"^科")
_DISEASE_EXCLUDE = re.compile(r"^(?:疫苗|抗原|抗体|筛查|病毒核酸)")
_DRUG_EXCLUDE = re.compile(r"^(?:血药)?浓度|^中毒")  # 查地高辛浓度 names a test, 地高辛中毒 a condition


def _excluded(text: str, c: Candidate) -> bool:
    """Lexicon words that are something else in context: 空腹 (not 腹), 吞咽, 口腔科, 流感疫苗, 多饮水."""
    before = text[c.start - 1] if c.start else ""
    after = text[c.end : c.end + 4]
    if c.label == "body_part":
        return (
            (text[c.start : c.end].startswith("腹") and before == "空")
            or (text[c.start : c.end] == "咽" and before == "吞")
            or bool(_BODY_EXCLUDE.match(after))
        )
    if c.label == "disease":
        return bool(_DISEASE_EXCLUDE.match(after))
    if c.label == "drug":
        return bool(_DRUG_EXCLUDE.match(after))
    if c.label == "symptom":
        word = text[c.start : c.end]
        return (word == "多饮" and after.startswith("水")) or (word.startswith("腹") and before == "空")
    return False


def _section_start(pos: int, sections: Sequence[SectionSpan]) -> int:
    start = 0
    for s in sections:
        if s.start <= pos:
            start = s.start
    return start


def _resolve_overlaps(cands: list[Candidate]) -> list[Candidate]:
    ordered = sorted(cands, key=lambda c: (-c.length, c.start, _PRIORITY.get(c.label, 9)))
    taken: list[Candidate] = []
    occupied: list[tuple[int, int]] = []
    for c in ordered:
        if any(c.start < e and s < c.end for s, e in occupied):
            continue
        taken.append(c)
        occupied.append((c.start, c.end))
    return sorted(taken, key=lambda c: c.start)


def _switch_target(text: str, cue_end: int, next_start: int) -> bool:
    """The next drug is what the previous one is switched to: it follows the cue closely (换成单片复方X)."""
    gap = text[cue_end:next_start]
    return len(gap) <= 6 and not re.search(rf"{V.NUM}|半", gap)


def _negated(text: str, start: int, section_start: int = 0) -> bool:
    m = _NEGATION.search(text[max(0, section_start, start - 12) : start])
    return bool(m) and not _NEGATION_BREAK.search(m.group(2))


# 两周后减为一天一次, 一周后加到一片, 如果血压还高再加到十毫克: a later step, not today's prescription
_LATER_BEFORE = re.compile(r"(?:后|以后|之后|然后|再|下次|下周|如果|若|要是)[^，。；]{0,2}$")
# 首剂三百毫克以后每天七十五毫克, 第一天两片以后每天一片: the loading dose is said first, the regimen after it
_LOADING = re.compile(
    r"(?:首剂|首次|首日|负荷(?:剂)?量?|第一天|头一天)[^，。；]{1,12}?(以后|之后|然后|此后|"
    r"(?:从)?(?:第二天|次日)(?:起|开始)?)"
)
_CHANGE_NOW = re.compile(r"(?:原来|以前|之前|本来)[^，。；]{1,12}?(现在|目前|从今天起|从今天开始|今天起)")


# 规格五毫克, 五毫克规格, 五毫克的片子 / 五毫克一片的 / 五毫克的那种: said as the strength of the product
_SPEC_BEFORE = re.compile(r"规格(?:是|为|：|:)?\s*$")
_SPEC_AFTER = re.compile(r"\s*(?:的)?(?:规格|的片|的胶囊|的粒|一片的|一粒的|每片|每粒|那种|那一种)")
_MASS_UNITS = ("mg", "g", "μg")


def _said_as_dose(text: str, strength: Candidate, drug_end: int) -> bool:
    """A single mass amount said for the drug with no count of tablets is the amount per administration
    (氨氯地平5毫克每日一次 → dose 5 mg); it stays the strength when said as 规格 or as the tablet's
    content (五毫克的片子), or when it is a combination (160/4.5 μg) or a concentration."""
    norm = strength.normalized or ""
    amount, _, unit = norm.partition(" ")
    if "/" in norm or unit not in _MASS_UNITS:
        return False
    try:
        float(amount)
    except ValueError:
        return False
    if _SPEC_BEFORE.search(text, max(drug_end, strength.start - 4), strength.start):
        return False
    return not _SPEC_AFTER.match(text, strength.end)


# a prescribing verb right before a drug (加用依那普利, 给他开氨氯地平, 换成缬沙坦, 继续二甲双胍)
_PRESCRIBE_BEFORE = re.compile(
    r"(?:加用|加上|加服|再加|(?<![科院生夫所诊])开(?:点|了|上|些)?|给(?:予|他|她|你|患者|病人)?(?:开)?|予以?|换成|换用|"
    r"改用|改成|改为|处方|续开|继续(?:用|吃|服|打)?|带)\s*$"
)
_NO_PLAN_SECTIONS = {"处理", "过敏史", "家族史"}


@dataclass(frozen=True)
class _Window:
    name: str
    start: int
    end: int


def _plan_windows(text: str, sections: Sequence[SectionSpan], drugs: Sequence[Candidate]) -> list[Any]:
    """The 处理 sections, and from the first drug said after a prescribing verb with its sig outside 处理
    (in the history, the examination, …) to the end of that section: the doctor prescribes there too."""
    out: list[Any] = [sec for sec in sections if sec.name == "处理"]
    for sec in sections:
        if sec.name in _NO_PLAN_SECTIONS:
            continue
        sec_drugs = [d for d in drugs if sec.start <= d.start < sec.end]
        for k, d in enumerate(sec_drugs):
            cue = _PRESCRIBE_BEFORE.search(text, max(sec.start, d.start - 6), d.start)
            if not cue:
                continue
            nxt = sec_drugs[k + 1].start if k + 1 < len(sec_drugs) else sec.end
            if (
                V.find_frequencies(text, d.end, nxt)[0]
                or V.find_doses(text, d.end, nxt)
                or V.find_strengths(text, d.end, nxt)
            ):
                out.append(_Window("处理", cue.start(), sec.end))
                break
    return sorted(out, key=lambda w: w.start)


_ITEM_FIELDS = ("strength", "dose", "unit", "frequency", "route", "days", "note")
# 再加苯磺酸氨氯地平片…, 另外加…: the drug is added as a line of its own
_ADD_BEFORE = re.compile(
    r"(?:再|另外|还要|还得|同时)(?:加|开|用|给)(?:上|用|一个|一种|点)?\s*$|加用\s*$|加上\s*$"
)


def _own(it: ExtractedItem, filled: set[str]) -> set[str]:
    """The fields the mention said itself (not filled from a statement for all lines)."""
    return {f for f in _ITEM_FIELDS if getattr(it, f) is not None and f not in filled}


def _merge_repeats(
    text: str, items: list[ExtractedItem], filled: Sequence[set[str]] | None = None
) -> list[ExtractedItem]:
    """One drug said twice is one item: a split mention (瑞舒伐他汀十毫克…就是可定), a mention in the advice
    (用完信必可要漱口), a repeat. A later mention after a correction (不对, 改成) replaces the values it
    says; otherwise it only fills what the first mention left unsaid, and its own values win over those
    the first took from a statement for all lines (``filled``). A first mention that said nothing of a
    sig (含硝酸甘油能缓解, told in the history) gives way to the mention prescribed with its sig. Two
    mentions with different doses and no correction stay two lines (the audit will ask), and so do two
    names of one ingredient each said with its own amount and frequency (络活喜五毫克一天一次…再加苯磺酸氨氯
    地平片五毫克一天一次: a duplicate the audit must see), unless said as one (就是, 也就是, 即)."""
    fills = list(filled) if filled is not None else [set() for _ in items]
    out: list[tuple[ExtractedItem, set[str]]] = []
    for it, it_fill in zip(items, fills, strict=True):
        key = it.drug_id or it.drug
        prev = next((k for k, (o, _) in enumerate(out) if (o.drug_id or o.drug) == key), None)
        if prev is None:
            out.append((it, set(it_fill)))
            continue
        first, first_fill = out[prev]
        corrected = bool(_CHANGE.search(text, first.start, it.start))
        own_first, own_it = _own(first, first_fill), _own(it, it_fill)
        if not corrected and (
            (
                first.dose is not None
                and it.dose is not None
                and (first.dose, first.unit) != (it.dose, it.unit)
            )
            or _two_lines(text, first, it, own_first, own_it)
        ):
            out.append((it, set(it_fill)))
            continue
        if not own_first & {"strength", "dose", "frequency", "route"} and own_it & {"dose", "frequency"}:
            # the first mention was no prescription line: the item is the later one, where it was said
            merged = it.model_copy(update={f: getattr(first, f) for f in own_first if getattr(it, f) is None})
            out.pop(prev)
            out.append((merged, set(it_fill)))
            continue
        new = {f: getattr(it, f) for f in _ITEM_FIELDS if getattr(it, f) is not None}
        if not corrected:
            new = {
                f: v
                for f, v in new.items()
                if getattr(first, f) is None or (f in first_fill and f not in it_fill)
            }
        if "dose" in new or "unit" in new:
            new["dose"], new["unit"] = it.dose, it.unit
        out[prev] = (
            first.model_copy(update={**new, "end": max(first.end, it.end)}),
            first_fill - {f for f in new if f not in it_fill},
        )
    return [o for o, _ in out]


def _two_lines(
    text: str, first: ExtractedItem, it: ExtractedItem, own_first: set[str], own_it: set[str]
) -> bool:
    """Two mentions of one ingredient that are two lines: each said with its own amount and frequency,
    under different names or the second said as added (再加…), and not said as one (…就是Y)."""
    full = {"frequency"} <= own_first and {"frequency"} <= own_it
    amounts = bool(own_first & {"dose", "strength"}) and bool(own_it & {"dose", "strength"})
    if not (full and amounts):
        return False
    if _ALIAS_GAP.search(text, first.start, it.start) or _SAME_AS.search(text, first.start, it.start):
        return False
    added = bool(_ADD_BEFORE.search(text, max(0, it.start - 6), it.start))
    return added or first.drug != it.drug


def _after_changes(cands: list[Candidate], change_ends: Sequence[int]) -> tuple[list[Candidate], int | None]:
    """The values said after the last change/correction cue that has any after it, and that cue's end."""
    for cut in sorted(set(change_ends), reverse=True):
        after = [c for c in cands if c.start >= cut]
        if after:
            return after, cut
    return cands, None


def _after_last_change(cands: list[Candidate], change_end: int | None) -> list[Candidate]:
    """Keep only the values said after the last change/correction cue when there are any."""
    if change_end is None:
        return cands
    after = [c for c in cands if c.start >= change_end]
    return after or cands


_PRN_AFTER = re.compile(
    r"(?:得(?:厉害|很|明显|严重)|厉害|明显|严重|加重|发作|不舒服)?(?:发作)?(?:的)?(?:时候|时)(?!间)"
)


def _symptom_prn(text: str, start: int, end: int, complaints: Sequence[tuple[int, int]]) -> list[Candidate]:
    """A complaint said with 时/的时候 inside the drug's line (头晕的时候, 鼻塞严重时) is an as-needed frequency."""
    out = []
    for s, e in complaints:
        if start <= s and e <= end:
            m = _PRN_AFTER.match(text, e, end)
            if m:
                out.append(Candidate(s, m.end(), "frequency", "prn"))
    return out


def _sig_for_window(
    text: str, start: int, end: int, complaints: Sequence[tuple[int, int]] = ()
) -> dict[str, Any]:
    explicit, timing = V.find_frequencies(text, start, end)
    if complaints:
        taken = [(c.start, c.end) for c in explicit]
        explicit = sorted(
            [
                *explicit,
                *(
                    c
                    for c in _symptom_prn(text, start, end, complaints)
                    if not any(c.start < e and s < c.end for s, e in taken)
                ),
            ],
            key=lambda c: c.start,
        )
    split = [
        t for t in timing if text[t.start : t.end] in ("早上", "晚上") and _DOSE_AFTER.match(text, t.end)
    ]
    if len(split) > 1:  # 早上八个单位晚上六个单位: doses split over the day, not a once-a-day timing
        timing = [t for t in timing if t not in split]
    changes = [
        m.end()
        for m in _CHANGE.finditer(text, start, end)
        if not _LATER_BEFORE.search(text, max(start, m.start() - 8), m.start())
        # 早上六个单位…晚上加到八个单位: the change is for that time of the day only
        and not (
            (len(split) > 1 or len(_SLOT_DOSE.findall(text, start, end)) > 1)
            and _SLOT_BEFORE.search(text, max(start, m.start() - 3), m.start())
        )
    ]
    changes += [m.end(1) for m in _CHANGE_NOW.finditer(text, start, end)]
    changes += [m.end(1) for m in _LOADING.finditer(text, start, end)]
    cut = max(changes) if changes else None
    # 睡前打不对早上打的加到十二个单位: each field takes what was said after the last change that says it
    explicit, explicit_cut = _after_changes(explicit, changes)
    timing, timing_cut = _after_changes(timing, changes)
    if timing_cut is not None and (explicit_cut is None or timing_cut > explicit_cut):
        explicit = []  # 从一天一次改成每晚睡前: the new timing phrase, not the old explicit count
    strengths = _after_last_change(V.find_strengths(text, start, end), cut)
    doses = _after_last_change(V.find_doses(text, start, end), cut)
    if cut is not None and any(
        c.start >= cut and (c.normalized or "").endswith(("mg", " g", "μg")) for c in doses
    ):
        strengths = [
            c for c in strengths if c.start >= cut
        ]  # 每天三毫克改成…三点七五毫克: the old amount is gone
        if re.search(
            r"(?:周|星期)[一二三四五六日天]", text[cut:end]
        ):  # a weekday schedule replaces the old one
            explicit = [c for c in explicit if c.start >= cut]
            timing = [c for c in timing if c.start >= cut]
    slots = {
        {"午": "中", "睡": "晚"}.get(m.group(1)[0], m.group(1)[0])
        for m in _SLOT_DOSE.finditer(text, start, end)
    }
    if not explicit and len(slots) > 1:  # 早餐前十六个单位晚餐前十四个单位: one dose at each time said
        first = next(m for m in _SLOT_DOSE.finditer(text, start, end))
        timing = [Candidate(first.start(1), first.end(1), "frequency", "bid" if len(slots) == 2 else "tid")]
    split = _split_doses(text, start, end, cut)
    return {
        "split": split,
        "strength": strengths,
        "dose": doses,
        "frequency": explicit or timing[:1],
        "route": _after_last_change(V.find_routes(text, start, end), cut),
        "duration": _after_last_change(V.find_durations(text, start, end), cut),
        # 睡前打，不对，早上打的: the timing said after a correction replaces the one before it
        "note": V.find_notes(text, cut, end)
        if cut is not None and (V.find_notes(text, cut, end) or any(c.start >= cut for c in timing))
        else V.find_notes(text, start, end),
    }


_SIG_KEYS = ("strength", "dose", "frequency", "route", "duration")
_Line = tuple[Candidate, dict[str, Any]]  # a prescribed drug and the sig values said in its line


def analyse(
    text: str,
    lexicon_cands: Iterable[Candidate],
    value_cands: Iterable[Candidate] = (),
    model_cands: Iterable[Candidate] = (),
    sections: Sequence[SectionSpan] | None = None,
    raw_text: str | None = None,
) -> Analysis:
    """Resolve candidates into entities, sections and prescription items.

    ``text`` is what rules match on (width-folded); ``raw_text`` (same length) is the caller's input,
    used for the entity text so that ``raw_text[start:end] == entity.text``.

    Steps: refine the lexicon spans; split sections (unless given); label each span from its context
    (:func:`_label_in_context`) and resolve overlaps; read the prescription lines
    (:func:`_prescription_lines`); place their sig values among the entities (:func:`_place_sig_values`);
    build the entities (:func:`_entities`) and the items (:func:`_build_item`,
    :func:`_apply_distributive`, :func:`_merge_repeats`)."""
    raw = raw_text if raw_text is not None else text
    if len(raw) != len(text):
        raise ValueError("raw_text and text must have the same length")
    lex = refine_lexicon(text, lexicon_cands)
    vals = list(value_cands)
    if sections is None:
        sections = split_sections(text, [*lex, *vals])
    sections = tuple(sections)
    cands = _resolve_overlaps([*_label_in_context(text, [*lex, *model_cands], sections), *vals])
    drugs = [c for c in cands if c.label == "drug"]
    complaints = [(c.start, c.end) for c in cands if c.label in ("symptom", "disease")]
    lines, sig_cands = _prescription_lines(text, sections, drugs, complaints)
    cands, kept_ids = _place_sig_values(cands, sig_cands)
    entities = _entities(text, raw, cands, sections)
    built = [_build_item(text, raw, d, sig, kept_ids) for d, sig in lines]
    built, filled = _apply_distributive(text, lines, built, kept_ids)
    items = _skin_tests_said_apart(text, drugs, _merge_repeats(text, built, filled))
    return Analysis(sections=sections, entities=entities, items=tuple(items))


def _skin_tests_said_apart(
    text: str, drugs: Sequence[Candidate], items: list[ExtractedItem]
) -> list[ExtractedItem]:
    """…以上均口服都吃十四天，阿莫西林皮试阴性: a skin-test result said for a drug named again apart from its
    line is that line's result."""
    results: dict[str, str] = {}
    for d in drugs:
        m = _SKIN_TEST.match(text, d.end)
        if d.normalized and m:
            results.setdefault(d.normalized, _SKIN_RESULT[m.group(1)] if m.group(1) else "免试")
    if not results:
        return items
    return [
        it.model_copy(update={"skin_test": results[it.drug_id]})
        if it.skin_test is None and it.drug_id in results
        else it
        for it in items
    ]


# 青霉素过敏吗？不过敏。 对青霉素过敏吗？没有。: a question, the answer decides (an answer of yes, or none, stays an allergy)
_ALLERGY_QUESTION = re.compile(r"\s*(?:吗|么|嘛|不|没有?)?\s*[？?]|\s*(?:吗|么|嘛)")
_ALLERGY_DENIED_ANSWER = re.compile(
    r"[\s，,。？?]*(?:(?:他|她|患者|病人)?(?:说|讲|回答|答|表示)(?:是|了)?)?[\s，,：:]*"
    r"(?:(?:都|也|从来)?(?:不|没|没有|没有过)过敏|否认|(?:没有|没|无|不是|不)(?=[\s，,。；;！!]|$))"
)


def _asked_and_denied(text: str, pos: int) -> bool:
    """The allergy said up to ``pos`` is a question (…过敏吗？) answered no (不过敏, 没有)."""
    q = _ALLERGY_QUESTION.match(text, pos)
    return q is not None and _ALLERGY_DENIED_ANSWER.match(text, q.end()) is not None


def _allergy_statement(text: str, end: int, substance_ends: dict[int, int]) -> bool:
    """X过敏, and X和Y都过敏 / X、Y过敏 (a list of substances before one allergy word)."""
    for _ in range(4):
        said = _ALLERGY_AFTER.match(text[end : end + 12])
        if said:
            return not _asked_and_denied(text, end + said.end())
        more = _ALLERGY_MORE.match(text, end)
        if more and not _IF_ALLERGIC_AFTER.match(text, more.end()):
            return not _asked_and_denied(text, more.end())
        m = _ALLERGY_AND.match(text, end)
        if not m or m.end() not in substance_ends:
            return False
        end = substance_ends[m.end()]
    return False


def _drug_reaction(text: str, start: int, end: int, section: str | None) -> bool:
    """以前吃别嘌醇起过皮疹, 用头孢出过疹子, 上次打头孢曲松全身起红疹, 阿司匹林吃了会喘, 吃了阿莫西林以后起了皮疹:
    a drug taken, then within the same clause the onset of an allergic sign (rash, wheals, wheeze, swelling
    of the lips or throat, shock). Not when the sign is denied or hypothetical (吃了两年没有皮疹, 如果起皮疹
    马上停), an instruction (吃了起皮疹就停药来看), or, in the plan, without a word of the past."""
    if _NOT_A_DRUG.search(text, start, end):
        return False
    clause_start = start
    while clause_start > 0 and text[clause_start - 1] not in "，。；;,！!？?\n":
        clause_start -= 1
    before = text[clause_start:start]
    took_before = _TAKE_BEFORE.search(before[-6:]) is not None
    after = _TAKE_AFTER.match(text, end)
    if not took_before and after is None:
        return False
    stop = _REACTION_STOP.search(text, end)
    limit = min(stop.start() if stop else len(text), end + 20)
    # one comma may come between (上次打头孢曲松，全身起红疹), not two
    commas = [i for i in range(end, limit) if text[i] in "，,"]
    if len(commas) > 1:
        limit = commas[1]
    m = _REACTION.search(text, end, limit)
    if m is None:
        return False
    gap = text[end : m.start()]
    if not re.search(_RASH, m.group()) and (len(gap) > 6 or re.search(r"[，,、]", gap)):
        return False  # 在吃缬沙坦、螺内酯，走一百米就喘: wheeze said apart from the drug is the illness
    if _REACTION_NOT.search(gap) or _REACTION_NOT.search(before[-4:]):
        return False
    if _REACTION_INSTRUCTION_AFTER.match(text, m.end()):
        return False
    said = text[clause_start : m.end()]
    if not _SYSTEMIC.search(said) and (
        _INJECTION_SITE.search(said)
        or (_INJECTION_WORD.search(said) and _INJECTED_PART.search(gap))
        or (
            _SUBCUTANEOUS.search(text, start, end)
            and re.fullmatch(
                r"(?:起|出|长|冒|出现|出了|起了)(?:了|过)?[^，。；;,]{0,4}?(?:疙瘩|红点)", m.group()
            )
        )
    ):
        return False  # at the injection site
    if (
        not re.search(_RASH, m.group())
        and _ANTI_INFECTIVE.search(text, start, end)
        and _RESPIRATORY_STORY.search(text, 0, clause_start)
    ):
        return False  # 咳嗽三天，吃阿莫西林以后喘得厉害: the infection's own sign
    # in the plan only a reaction of the past (处理：…吃了起皮疹就停: an instruction)
    return (
        section not in ("处理", "健康指导") or _REACTION_PAST.search(text, clause_start, m.end()) is not None
    )


def _not_the_patients(text: str, start: int, sections: Sequence[SectionSpan]) -> bool:
    """An allergy denied (没有青霉素过敏) or a relative's (他妈妈青霉素过敏, 家族史 …): not the patient's, and no
    drug prescribed either."""
    return bool(
        _ALLERGY_NEG.search(text[max(0, start - 5) : start])
        or _RELATIVE_BEFORE.search(text, max(0, start - 10), start)
        or _section_at(start, sections) == "家族史"
    )


def _label_in_context(
    text: str, cands: Iterable[Candidate], sections: Sequence[SectionSpan]
) -> list[Candidate]:
    """One candidate per span, its label decided by context: a drug or allergen in an allergy statement
    is an allergen (no entity when the allergy is denied); elsewhere the allergen reading is dropped,
    so are readings that name something else here (:func:`_excluded`), a string both a symptom and a
    diagnosis is a diagnosis in 诊断 and a symptom elsewhere, and the label of highest priority wins."""
    by_span: dict[tuple[int, int], list[Candidate]] = {}
    for c in cands:
        by_span.setdefault((c.start, c.end), []).append(c)
    substance_ends = {
        start: end
        for (start, end), group in by_span.items()
        if any(c.label in ("drug", "allergen") for c in group)
    }
    stated = {
        text[s:e]
        for s, e in substance_ends.items()
        if _allergy_statement(text, e, substance_ends) and not _not_the_patients(text, s, sections)
    }
    out: list[Candidate] = []
    for (s, e), group in by_span.items():
        labels = {c.label for c in group}
        allergy = _allergy_statement(text, e, substance_ends) or (
            # 吃别嘌醇起了皮疹…考虑别嘌醇过敏: the allergy is read where it is said
            bool(labels & {"drug", "allergen"})
            and text[s:e] not in stated
            and _drug_reaction(text, s, e, _section_at(s, sections))
        )
        if allergy and labels & {"drug", "allergen"}:
            if _not_the_patients(text, s, sections):
                continue
            out.append(Candidate(s, e, "allergen", None, "lexicon"))
            continue
        group = [c for c in group if c.label != "allergen"]  # an allergen word outside an allergy statement
        group = [c for c in group if not _excluded(text, c)]
        if not group:
            continue
        if {"symptom", "disease"} <= labels:
            want = "disease" if _section_at(s, sections) == "诊断" else "symptom"
            group = [c for c in group if c.label == want]
        out.append(min(group, key=lambda c: _PRIORITY.get(c.label, 9)))
    return out


def _prescription_lines(
    text: str,
    sections: Sequence[SectionSpan],
    drugs: Sequence[Candidate],
    complaints: Sequence[tuple[int, int]],
) -> tuple[list[_Line], list[Candidate]]:
    """The drugs prescribed, each with the sig said in its line, and every sig value read (also those of
    drugs not prescribed: their words are sig words, not symptoms).

    Prescription lines: drugs inside 处理, each with the text up to the next drug; and drugs prescribed
    elsewhere (既往… 加用依那普利十毫克每天一次: the splitter left the plan inside the history)."""
    sig_cands: list[Candidate] = []
    lines: list[_Line] = []
    conditional: list[tuple[Candidate, dict[str, Any], tuple[str, bool]]] = []
    for sec in _plan_windows(text, sections, drugs):
        sec_drugs, diluted = _undiluted(text, sec, drugs)
        lead_route: list[Candidate] = []
        given_back: _Line | None = None  # the line a route was taken from for the next drug
        forward: Candidate | None = None  # 以下都是口服 / 口服药：…: a route said for the lines after it
        lead_freq: list[Candidate] = []  # …，喘的时候万托林…: an as-needed frequency said before its drug
        for k, d in enumerate(sec_drugs):
            win_end = sec_drugs[k + 1].start if k + 1 < len(sec_drugs) else sec.end
            sig = _line_sig(text, d, win_end, complaints, diluted)
            lead_used = bool(lead_freq) and not sig["frequency"]
            if lead_used:
                sig["frequency"] = lead_freq
            lead_freq = []
            prn_next = [
                c
                for c in sig["frequency"]
                if c.normalized == "prn"
                and k + 1 < len(sec_drugs)
                and _PRN_TO_NEXT.fullmatch(text, c.end, win_end)
            ]
            if prn_next:
                sig["frequency"] = _sig_for_window(text, d.end, prn_next[-1].start, complaints)["frequency"]
                nxt = sec_drugs[k + 1]
                key = nxt.normalized or text[nxt.start : nxt.end]
                if not any((o.normalized or text[o.start : o.end]) == key for o in sec_drugs[: k + 1]):
                    lead_freq = prn_next[-1:]
                # else …憋得厉害的时候信必可可以多吸一吸: advice on a line said before, not a new line's sig
            if k == 0:  # 处理口服阿莫西林胶囊…, 皮下注射甘精胰岛素…, 口服药：…: said before the first drug
                lead_route = [
                    c
                    for c in V.find_routes(text, max(0, d.start - 8), d.start)
                    if d.start - c.end <= 1 or _LEAD_GAP.fullmatch(text, c.end, d.start)
                ]
                lead_route = lead_route[-1:]
                if lead_route and _closes_unread_line(text, lead_route[0], d.start, complaints):
                    lead_route = []
            if lead_route and _route_header(text, lead_route[0], d.start):
                forward = lead_route[0]
            name = "注射液" if d.normalized and _INJECTED_ID.search(d.normalized) else text[d.start : d.end]
            if lead_route and lead_route[0] is forward and not _form_allows(name, forward.normalized):
                lead_route = []  # 口服药：…滴眼液…: a heading's route is not given to a form it rules out
            if lead_route and not sig["route"]:
                sig["route"] = lead_route
            elif (
                forward is not None
                and not sig["route"]
                and not lead_route
                and _form_allows(name, forward.normalized)
            ):
                sig["route"] = [forward]
            if lead_route and given_back is not None and _not_prescribed(text, sec_drugs, k, sig):
                # …一天两次，吸入，思力华和信必可都停掉: the route went to a drug that is stopped; it was the
                # line before's after all
                given_back[1]["route"] = sorted([*given_back[1]["route"], *lead_route], key=lambda c: c.start)
                sig_cands.extend(lead_route)
                sig["route"] = [c for c in sig["route"] if c not in lead_route]
            lead_route, given_back = [], None
            if k + 1 < len(sec_drugs):
                lead_route = _route_of_next(text, sig, win_end, sec_drugs[k], sec_drugs[k + 1])
                if lead_route:
                    sig["route"] = [c for c in sig["route"] if c not in lead_route]
            for key in _SIG_KEYS:
                sig_cands.extend(sig[key])
            if not _not_prescribed(text, sec_drugs, k, sig):
                cond = _conditional(
                    text, sec.start, sec_drugs, k, sig, lead_used, in_plan=not isinstance(sec, _Window)
                )
                if cond is not None:
                    conditional.append((d, sig, cond))
                    continue
                lines.append((d, sig))
                given_back = (d, sig) if lead_route else None
    return _shared_sigs(text, _place_conditional(text, lines, conditional)), sig_cands


# …一天一次，血压高的时候加一片 / 如果还疼再吃一片: an extra amount said under a condition in the line
_EXTRA_BEFORE = re.compile(
    r"(?:再|就|可以|可|则|另外)*(?:加服|加用|加吃|追加|另加|加|多)(?:吃|服|用|打|含)?\s*$"
    r"|(?:再|就|可以|可|则)+(?:吃|服|用|打|含)\s*$"
)


def _conditional_extra(text: str, start: int, end: int, sig: dict[str, Any]) -> dict[str, Any]:
    """The line's sig without an extra amount said under a condition (氨氯地平五毫克一天一次，血压高的时候加
    一片): that clause is the line's as-needed note, not its dose nor its frequency."""
    amounts = sorted([*sig["dose"], *sig["strength"]], key=lambda c: c.start)
    for c in amounts:
        verb = _EXTRA_BEFORE.search(text, max(start, c.start - 8), c.start)
        if verb is None:
            continue
        breaks = list(_COND_BREAK.finditer(text, start, verb.start()))
        if not breaks:
            continue  # said in the line's own run: not a clause of its own
        clause_start = breaks[-1].end()
        if not _COND_CUE.search(text, clause_start, verb.start()):
            continue
        clause_end = next((m.start() for m in _COND_BREAK.finditer(text, c.end, end)), end)
        inside = [x for key in ("dose", "strength") for x in sig[key] if clause_start <= x.start < clause_end]
        freqs = [x for x in sig["frequency"] if clause_start <= x.start < clause_end]
        said = text[clause_start:clause_end].strip()
        return {
            **sig,
            "dose": [x for x in sig["dose"] if x not in inside],
            "strength": [x for x in sig["strength"] if x not in inside],
            "frequency": [x for x in sig["frequency"] if x not in freqs],
            "note": [*sig["note"], said] if said and said not in sig["note"] else sig["note"],
        }
    return sig


# 如果血压高于一百六加服硝苯地平十毫克, 疼得厉害再吃布洛芬, 发烧超过三十八度五吃…: a drug said under a condition
_COND_CUE = re.compile(
    r"如果|要是|假如|万一|倘若|若|一旦|如有|的话|(?:的)?时候|(?<![餐饭])时(?!间)|厉害|高于|低于|超过|大于|小于|"
    r"不降|降不下来|还高|还是高|偏高|偏低|不舒服|难受|发作"
)
_COND_OPEN = re.compile(r"如果|要是|假如|万一|倘若|若|一旦|如有")
# the verb right before the drug: taking or adding it (再吃, 加服, 可以吃), or prescribing it (给他开, 带)
_COND_VERB = re.compile(
    r"(?:再|就|可以|可|则|才|先|另外|马上|立即)*"
    r"(?:(?P<rx>(?:给(?:他|她|你|患者|病人)?)?开(?:上|点|一盒|一支|一瓶)?|给(?:他|她|你|患者|病人)?|带(?:上|点|着)?|备(?:上|点|着)?)"
    r"|加服|加用|加吃|加上|加|吃|服|用|含|喷|吸|打|口服|含服|舌下含服|来)"
    r"(?:一片|一粒|一下|一点|点|些|上|块|颗)?\s*$"
)
_COND_BREAK = re.compile(r"[，,。；;！!？?：:]")


def _conditional(
    text: str,
    sec_start: int,
    sec_drugs: Sequence[Candidate],
    k: int,
    sig: dict[str, Any],
    lead_used: bool,
    in_plan: bool = True,
) -> tuple[str, bool] | None:
    """The ``k``-th drug said under a condition (如果血压高于一百六加服硝苯地平十毫克, 疼得厉害再吃布洛芬) with no
    frequency or course of its own: ``(what was said, prescribed)``, ``prescribed`` when a prescribing verb
    (开, 给, 带, 备) names it, or when it is said with its amount in the 处理 section itself (``in_plan``) with a
    verb of taking (吃, 用; not 加服); ``None`` when it is an ordinary line.

    Such a mention is advice on when to take a drug, not a line of its own (:func:`_place_conditional`):
    for a drug prescribed as a line elsewhere in the dictation it is that line's as-needed note; for a drug
    not prescribed elsewhere it is no line (加服 of a tablet the patient has at home is not dispensed), unless
    a prescribing verb names it: then it is an as-needed (prn) line, what a 处方 needs for it to be dispensed.
    A conditional line said with its own frequency or course (疼得厉害再加双氯芬酸钠缓释片七十五毫克一天一次吃三天,
    要是憋得慌用沙丁胺醇一次两喷必要时用) is a line as before."""
    d = sec_drugs[k]
    own_freq = [] if lead_used else sig["frequency"]
    if own_freq or sig["duration"]:
        return None
    verb = _COND_VERB.search(text, max(sec_start, d.start - 12), d.start)
    if verb is None:
        return None
    # the clause may open before the window (…随访：如果血压高于一百六加服…: the window starts at 加服)
    lo = max(0, d.start - 24, sec_drugs[k - 1].end if k else 0)
    breaks = list(_COND_BREAK.finditer(text, lo, verb.start()))
    clause_start = breaks[-1].end() if breaks else lo
    # a frequency of the line before said in its run (…零点五克必要时加用布洛芬…) is no condition of this drug,
    # unless it was given to it (…，疼的时候吃布洛芬) or opens a clause of its own (…，胸痛的时候舌下含服…)
    before = [] if breaks else V.find_frequencies(text, clause_start, verb.start())[0]
    cues = [
        m
        for m in _COND_CUE.finditer(text, clause_start, verb.start())
        if lead_used or not any(c.start <= m.start() < c.end for c in before)
    ]
    if not cues and not lead_used:
        return None
    opened = next((m for m in _COND_OPEN.finditer(text, clause_start, verb.start())), None)
    start = opened.start() if opened else clause_start
    while start < d.start and text[start].isspace():
        start += 1
    amounts = [c for key in ("strength", "dose") for c in sig[key]]
    said_end = max([d.end, *(c.end for c in amounts)])
    # in the plan itself, a drug said with its amount under a condition (处理：…，疼的时候吃对乙酰氨基酚零点五克)
    # is prescribed as needed; 加服 (an extra dose of a drug at hand) and advice sections prescribe nothing
    prescribed = verb.group("rx") is not None or (
        in_plan
        and bool(amounts)
        and not re.match(r"(?:再|就|可以|可|则|才|先|另外|马上|立即)*加", verb.group(0))
    )
    return text[start:said_end][:40], prescribed


def _place_conditional(
    text: str, lines: list[_Line], conditional: Sequence[tuple[Candidate, dict[str, Any], tuple[str, bool]]]
) -> list[_Line]:
    """The drugs said under a condition (:func:`_conditional`): the condition is the note of the drug's line
    said elsewhere; a drug not prescribed elsewhere is a prn line when a prescribing verb named it, else no
    line."""
    if not conditional:
        return lines
    out = list(lines)
    for d, sig, (said, prescribed) in conditional:
        key = d.normalized or text[d.start : d.end]
        target = next((ln for ln in out if (ln[0].normalized or text[ln[0].start : ln[0].end]) == key), None)
        if target is not None:
            if said not in target[1]["note"]:
                target[1]["note"] = [*target[1]["note"], said]
        elif prescribed:
            out.append((d, {**sig, "prn": True, "note": [*sig["note"], said]}))
    return sorted(out, key=lambda ln: ln[0].start)


def _closes_unread_line(
    text: str, r: Candidate, drug_start: int, complaints: Sequence[tuple[int, int]]
) -> bool:
    """The route ``r`` said before the plan's first drug, as a clause of its own, ends a dose line said
    before it whose drug was not read (…二百五灯，一次一吸，早晚各一次，吸入，顺尔宁十毫克…: 舒利迭 misheard):
    it is that line's route, not the next drug's."""
    if not re.search(r"[，,]", text[r.end : drug_start]) or _route_header(text, r, drug_start):
        return False
    start = max(0, r.start - 16)
    ends = [m.end() for m in re.finditer(r"[。；;：:\n]", text[start : r.start])]
    before = _sig_for_window(text, start + (ends[-1] if ends else 0), r.start, complaints)
    return bool(before["frequency"] or before["dose"])


# 氨氯地平和美托洛尔开四周, 阿司匹林、氯吡格雷一天一次: drugs named together before one sig
_NAMED_JOIN = re.compile(r"\s*(?:和|跟|与|及|以及|、|还有)\s*")
_SHARED_KEYS = ("frequency", "route", "duration")


def _shared_sigs(text: str, lines: list[_Line]) -> list[_Line]:
    """A drug said with nothing of its own and joined (和, 、) to the next drug shares the frequency,
    route and course said after the next one: those were said for both (X和Y开四周)."""
    out = list(lines)
    for k in range(len(out) - 2, -1, -1):
        d, sig = out[k]
        nd, nsig = out[k + 1]
        if any(sig[key] for key in _SIG_KEYS) or not _NAMED_JOIN.fullmatch(text, d.end, nd.start):
            continue
        shared = {key: nsig[key] for key in _SHARED_KEYS}
        each = [c for c in nsig["dose"] if re.search(r"各\s*$", text[max(0, c.start - 2) : c.start])]
        if each:  # 阿司匹林和氯吡格雷各一片: the dose said for each
            shared["dose"] = each
        out[k] = (d, {**sig, **shared})
    return out


# the routes a product's dosage form allows, by the end of its name (a name with no form allows any)
_FORM_ROUTES: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = (
    (re.compile(r"(?:滴眼液|眼药水|眼膏|眼用凝胶)$"), frozenset({"滴眼", "外用"})),
    (re.compile(r"(?:鼻喷雾剂|鼻喷剂|滴鼻液)$"), frozenset({"鼻喷", "滴鼻"})),
    (re.compile(r"(?:乳膏|软膏|凝胶|乳胶剂|洗剂|洗液|搽剂|酊|贴膏|贴剂|膏药)$"), frozenset({"外用"})),
    (re.compile(r"(?:注射液|注射剂|笔芯|针)$"), frozenset({"皮下注射", "肌内注射", "静脉注射", "静脉滴注"})),
    # insulins (甘精胰岛素, 门冬胰岛素30, brands) and heparins (依诺肝素钠) are injections whatever the name's end
    (
        re.compile(
            r"(?:胰岛素(?:\s*\d{2}R?)?|肝素(?:钠|钙)?|来得时|诺和锐(?:30|50)?|诺和灵(?:30R|50R|R|N)?|优泌乐(?:25|50)?|"
            r"优泌林(?:70/30|R|N)?|诺和平|长秀霖|甘舒霖(?:30R|R|N)?|优思灵|重和林|克赛|速碧林|法安明)$"
        ),
        frozenset({"皮下注射", "肌内注射", "静脉注射", "静脉滴注"}),
    ),
    (re.compile(r"(?:气雾剂|粉雾剂|吸入剂|雾化液|混悬液|吸入溶液)$"), frozenset({"吸入"})),
    (
        re.compile(r"(?:片|胶囊|丸|颗粒|散|口服液|口服溶液|糖浆)$"),
        frozenset({"口服", "嚼服", "含服", "舌下含服"}),
    ),
)


# formulary ids of drugs given only by injection (甘精 said for 甘精胰岛素: the name has no form word)
_INJECTED_ID = re.compile(r"insulin|heparin|parin$")


def _form_allows(name: str, route: str | None) -> bool:
    """The drug named ``name`` can be given by ``route`` (外用 does not fit 甲钴胺片)."""
    for rx, routes in _FORM_ROUTES:
        if rx.search(name):
            return route in routes
    return True


# …，喘的时候用万托林, 疼的时候吃布洛芬: what may stand between an as-needed frequency and the drug it is for
_PRN_TO_NEXT = re.compile(r"\s*(?:再|就|可以|可)?(?:吃|用|服|喷|吸|含|打|给|来)?(?:一下|点|上)?\s*")
# what may stand between a route said before a drug and the drug: 口服药：, 吸入的有, 口服，
_LEAD_GAP = re.compile(r"\s*(?:的|药|的药|类)?(?:的有|有|：|:)?\s*[，,。；;：:]?\s*")
# a route said as a heading of the lines after it: 口服药：…, 皮下注射：…, 吸入的有…
_HEADER_GAP = re.compile(r"\s*(?:的|药|的药|类)?(?:的有|有|：|:)\s*")
# 以下都是口服, 下面几个药均口服: said for the lines that follow
_FORWARD_CUE = re.compile(
    r"(?:以下|下面|下列|后面)(?:的|这些|几个|这几个|几种)?(?:药)?(?:都|均|全部|一律|统一)?(?:是|为|用)?$"
)


def _route_header(text: str, r: Candidate, drug_start: int) -> bool:
    """The route ``r`` said before the drug at ``drug_start`` heads the lines after it, not that one line."""
    return bool(
        _HEADER_GAP.fullmatch(text, r.end, drug_start)
        or _FORWARD_CUE.search(text, max(0, r.start - 9), r.start)
    )


def _route_of_next(
    text: str, sig: dict[str, Any], win_end: int, this: Candidate | None = None, nxt: Candidate | None = None
) -> list[Candidate]:
    """A route said right before the next drug after this line's course (…吃五天 外用双氯芬酸…): it is
    the next drug's route, not this line's — unless the next drug's form cannot be given that way while
    this one's can (…涂患处一天四五次外用 甲钴胺片…)."""
    at_end = [c for c in sig["route"] if win_end - c.end <= 1 or _HEADER_GAP.fullmatch(text, c.end, win_end)]
    if not at_end:
        return []
    r = at_end[-1]
    if _HEADER_GAP.fullmatch(text, r.end, win_end):
        return [r]  # …；皮下注射：甘精胰岛素…, 吸入的有…: the route heads the lines after it
    if (
        this is not None
        and nxt is not None
        and not _form_allows(text[nxt.start : nxt.end], r.normalized)
        and _form_allows(text[this.start : this.end], r.normalized)
    ):
        return []
    if re.search(r"(?:都|均|全部|统一)(?:是|为)?$", text[max(0, r.start - 3) : r.start]):
        return []  # 以上都吃十四天均口服: said for all the lines
    if re.match(r"\s*[；;。]", text[r.end : win_end]):
        return []  # …每周一次，皮下注射；二甲双胍…: a clause end after the route closes this line
    if re.match(r"\s*[，,]", text[r.end : win_end]) and re.search(
        r"[，,]\s*$", text[max(0, r.start - 2) : r.start]
    ):
        return []  # …每天一吸，吸入，沙美特罗替卡松…: a route said as a clause of its own closes this line
    if re.search(r"[，,；;。]\s*$", text[max(0, r.start - 2) : r.start]):
        return [r]  # …一天两次，口服氯雷他定…: the route opens the next line
    if any(c.end <= r.start for c in sig["route"] if c is not r):
        return [r]  # 外用…涂患处 口服氯雷他定: this line has its route already
    prev = max(
        (c for key in ("duration", "frequency", "dose", "strength") for c in sig[key] if c.end <= r.start),
        key=lambda c: c.end,
        default=None,
    )
    if prev is None or prev.label != "duration" or r.start - prev.end > 1:
        return []
    return [r]


def _undiluted(
    text: str, sec: Any, drugs: Sequence[Candidate]
) -> tuple[list[Candidate], list[tuple[int, int]]]:
    """The drugs said in ``sec`` but for the diluents, and the spans saying what a drug is diluted in
    (头孢曲松二克加入生理盐水一百毫升静滴: the diluent is part of the line, not an item of its own)."""
    sec_drugs = [d for d in drugs if sec.start <= d.start < sec.end]
    diluted = [
        (m.start("cue"), m.end())
        for d in sec_drugs
        if (m := _DILUENT.match(text, max(sec.start, d.start - 4), d.end + 12)) and m.start("name") == d.start
    ]
    return [d for d in sec_drugs if not any(s <= d.start < e for s, e in diluted)], diluted


# 碳酸氢钠片一克一天三次…每天喝两千毫升水: a volume is not the dose of a tablet or capsule, and the water
# drunk or taken with the drug (两千毫升水, 一百毫升温水) is not a dose at all
_SOLID_FORM = re.compile(r"(?:片|胶囊|丸)$")
_WATER_AFTER = re.compile(r"\s*(?:的)?(?:温|开|凉|白|清)?水")


def _line_sig(
    text: str,
    d: Candidate,
    win_end: int,
    complaints: Sequence[tuple[int, int]],
    diluted: Sequence[tuple[int, int]],
) -> dict[str, Any]:
    """The sig of the drug ``d`` from its end to ``win_end``: values inside a diluent phrase dropped, the
    titrated amount of an injection read as its dose, units dropped from a drug not dosed in units."""
    sig = _sig_for_window(text, d.end, win_end, complaints)
    if diluted:
        sig = {
            k: [c for c in v if not any(s <= c.start < e for s, e in diluted)]
            if k not in ("note", "split")
            else v
            for k, v in sig.items()
        }
    if _INJECTED.search(text[d.start : d.end]) or _INJECTED_SIG.search(text, d.end, win_end):
        # 司美格鲁肽注射液从零点二五毫克加到零点五毫克: the titrated amount of an injection is its dose
        titrated = [
            c
            for c in sig["strength"]
            if _TITRATE_BEFORE.search(text, max(d.end, c.start - 4), c.start)
            and _TITRATE_FROM.search(text, d.end, c.start)
        ]
        if titrated:
            sig["strength"] = [c for c in sig["strength"] if c not in titrated]
            sig["dose"] = sorted(
                [*sig["dose"], *(replace(c, label="dose") for c in titrated)], key=lambda c: c.start
            )
    spec_ends = {c.end for c in sig["strength"]}
    sig["dose"] = [
        c
        for c in sig["dose"]
        if not (
            _SPEC_COUNT_AFTER.match(text, c.end)
            and any(0 <= c.start - e <= 1 for e in spec_ends)
            and (c.normalized or "").startswith("1 ")
        )
    ]
    if not _unit_dose_ok(text[d.start : d.end], d.normalized):  # 阿卡波糖…每三天加两个单位: not its dose
        units = [c for c in sig["dose"] if (c.normalized or "").endswith(" U")]
        sig["dose"] = [c for c in sig["dose"] if c not in units]
        if sig.get("split") and (sig["split"][0].normalized or "").endswith(" U"):
            sig["split"] = None
        if units and _CLAUSE_BREAK.search(text, d.end, units[0].start):
            # 格华止0.5克1天3次饭后吃，来本时睡前打12个单位，皮下注射 (来得时 misheard): a clause dosed in units
            # is an unread insulin's line; the injection route said after it is that line's, not this drug's
            after = units[0].start
            sig["route"] = [c for c in sig["route"] if not (c.start > after and "注射" in c.normalized)]
    sig = _conditional_extra(text, d.end, win_end, sig)
    # 甘精胰岛素一支三百单位，一次三百单位: the amount said after 一次/每次 is the dose; a count or content said
    # before it in the line (一支, 两支笔芯) is not (review of 2026-12-08: the real 300 U was never checked)
    per_admin = [c for c in sig["dose"] if _PER_ADMIN_BEFORE.search(text, max(d.end, c.start - 6), c.start)]
    if per_admin and len(sig["dose"]) > 1:
        sig["dose"] = [c for c in sig["dose"] if c.start >= per_admin[0].start]
    solid = bool(_SOLID_FORM.search(text, d.start, d.end))
    sig["dose"] = [
        c
        for c in sig["dose"]
        if not ((c.normalized or "").endswith(" ml") and (solid or _WATER_AFTER.match(text, c.end)))
    ]
    return sig


_PER_ADMIN_BEFORE = re.compile(r"(?:每次|一次|每回|一回)\s*(?:吃|服|用|口服|打|注射|皮下注射)?\s*$")


# X上次已经停了, X一年到了就停了, X嫌放屁多不吃了, 开始吃X后来咳嗽换掉了, X肾功能这样不能再吃了: the drug
# is said as stopped a few words after its name (no amount or count said before the stop word)
_STOPPED_LATER = re.compile(
    r"[^，。；,;\d]{0,14}?(?<!不要)(?<!不能)(?<!别)(?<![不没])(?:停(?:了|掉|用|药)|早就停|就停|"
    r"不(?:用|吃)了|(?:不用|不要|不能|别|不)再(?:单独|分开)?(?:吃|用|服|打|买|喝|做了)|别(?:吃|用|服|打)了|不要(?:吃|用|服|打|喝)了|换掉了?|不吃|不用了|(?:吃|用|服)完了(?!\s*(?:再|就|以后|后)?\s*(?:来|回来|复查|复诊|开|拿))|"
    r"(?:先|暂时?|暂且|这次)不(?:用|吃|开|打|喝)(?!停|换|改|担心|管))"
)
# 二甲双胍已经停了，不再吃 (停了 heard as 停冷): the stop said as a clause of its own right after a drug said
# with no sig; the stop words end their clause (不再吃阿卡波糖 is said of the drug after it)
_STOPPED_NEXT_CLAUSE = re.compile(
    r"[^，。；,;\d]{0,8}?[，,]\s*(?:以后|之后|今后)?(?:就|也|都)?"
    r"(?:(?:不用|不要|不能|别|不)再(?:吃|用|服|打)|以后不(?:吃|用|服|打)|不(?:吃|用)了)(?:了|啦)?"
    r"(?=\s*(?:[，。；,;！!]|$))"
)
# 二甲双胍零点五克，不再吃 / …一天两次，先不吃了 / …，停掉: after the line's sig, a clause that is only a stop
# word (nothing else said in it: not 不再吃别的药, 吃完不用再来, 不舒服就停) stops the drug said before it;
# it ends at a pause, or at a blank when it closes itself (…不吃了 阿卡波糖…; a bare 停掉 before the next
# drug is that drug's, read by _STOPPED_BEFORE)
_STOP_CLAUSE = re.compile(
    r"(?:[，,]|\s)\s*(?:那个|这个|这个药|这药|这个就)?(?:以后|之后|今后|从今天起|从现在起|现在)?"
    r"(?:就|也|都|先|暂时|暂|可以|马上|立即)*"
    r"(?:停(?:掉|用|药|服)?|暂停(?:使用|服用|用药)?|减停|不(?:用|要|能)?(?:吃|用|服|打)(?=了)"
    r"|(?:不要|不用|不能|别|不)再(?:吃|用|服|打)|别(?:吃|用|服|打)(?=了)|(?P<done>不用了|停一停|停一段时间))"
    r"(?P<particle>了|吧|啦)?"
)
_STOP_CLAUSE_END = re.compile(r"\s*(?:[，,。；;！!]|$)")
# 吃五天，停 / 用到周日，停: a course said in the clause before: the stop is its end, not a stop of the line
_COURSE_BEFORE = re.compile(rf"(?:{V.NUM}|半)\s*(?:个)?(?:天|日|周|星期|礼拜|月)(?:以后|后)?\s*$|吃完|用完")


def _stop_clause(text: str, d: Candidate, win_end: int, sig: dict[str, Any] | None) -> re.Match[str] | None:
    """The stop said as a clause of its own after the line's sig (二甲双胍零点五克，不再吃): no amount, count
    or frequency of the drug is said after it (…，不再吃，改成一克… is a change, not a stop)."""
    said = [c for key in ("strength", "dose", "frequency") for c in (sig or {}).get(key, ())]
    for m in _STOP_CLAUSE.finditer(text, d.end, win_end):
        closed = bool(m.group("particle") or m.group("done"))
        end = _STOP_CLAUSE_END.match(text, m.end())
        if end is None and not (closed and text[m.end() : m.end() + 1].isspace()):
            continue  # 不再吃别的药, 停掉格列美脲: the clause goes on
        if not closed and end is not None and not end.group(0).strip() and end.end() < len(text):
            continue  # …停掉 阿卡波糖: the bare stop word before the next drug is that drug's
        if any(c.start >= m.end() for c in said):
            continue
        if _COURSE_BEFORE.search(text, max(d.end, m.start() - 8), m.start()):
            continue
        if _NOT_STOP_GAP.search(text, m.end(), win_end) and re.search(
            rf"{V.NUM}\s*(?:毫克|克|mg|g|片|粒|单位)|改|换成|换用|加到|继续|接着", text[m.end() : win_end]
        ):
            continue
        return m
    return None


# 思力华和信必可都停掉, 两个都不吃了: a stop said explicitly for both drugs named together
_BOTH_STOPPED = re.compile(
    r"\s*(?:这两个|这两种|两个|两种|两样)?(?:都|全|全部|一起)(?:先|暂时)?"
    r"(?:停(?:掉|了|用|药)?|不(?:吃|用|要)了|(?:不用|不要|别|不)再(?:单独|分开)?(?:吃|用|服|喝)|别(?:吃|用)了)"
)
# 捷诺维和单片二甲双胍都不再单独吃: the join of two drugs stopped together (单片: the single product)
_BOTH_JOIN = re.compile(r"\s*(?:和|跟|与|及|以及|、|还有)\s*(?:原来的|单片的?|单独的)?\s*")
_NOT_STOP_GAP = re.compile(
    rf"{V.NUM}\s*(?:毫克|克|mg|g|片|粒|单位)|一天|每天|一日|每日|改|换成|换用|加到|继续|接着|如果|要是|的话|万一|否则|不然"
)
# 以前吃过格列吡嗪, 以前还吃过阿卡波糖, 开始吃卡托普利: a drug of the past, not prescribed when no sig follows
_PAST_BEFORE = re.compile(
    r"(?:以前|之前|过去|曾经|早年|那时|当时|开始|刚开始|原先)(?:还|也|一直|都)?(?:吃|服|用|打)(?:过|了|的是)?$"
    r"|(?:后来|然后|之后)(?:就|才)?(?:换|改)(?:的|了|成|用|为)?$"
)
# 这次不开, 不用开, 家里还有: the drug is not dispensed this time (said in the drug's sentence); 不开 is about
# this drug only when it ends its clause (not 不开车, 这次不开输液了, 不用开别的药了, 别的药不开了)
_NOT_DISPENSED = re.compile(
    r"(?:这次|本次|今天|先|就)?(?<!别的)(?<!别的药)(?<!其他)(?<!其它)(?<!其他药)(?<!其它药)"
    r"不(?:用)?(?:开|拿|配)(?:了|药)?(?:了|啦)?(?=\s*(?:[，,。；;！!]|$))"
    r"|家里(?:还|也)?有(?:药|的|剩的)?(?=[，,。；;\s]|$)"
)
_HOME_BEFORE = re.compile(r"(?:家里|家中|自己|手头|手上)(?:还|也)?有(?:的)?(?:那个|这个)?\s*$")
# 再开两盒, 不够了, 这次开一盒: dispensed after all (a 再开 said right before the next drug is that drug's); 继续吃, 照旧, 接着吃, 还在吃: the patient keeps taking it, so the
# audit must see it (there is no current-medication list in the record): either keeps the line
_DISPENSED_AFTER_ALL = re.compile(
    rf"(?:再|还要|多)开(?!(?:点|些|上|了)?\s*$)|不够了?|开(?:上|了)?\s*(?:{V.NUM})\s*(?:盒|支|瓶|板|袋|周|个月|天|个星期)"
)
_CONTINUED = re.compile(r"继续|照旧|照常|接着(?:吃|用|服|打)|还在(?:吃|用|服|打)|一直(?:吃|用|服|打)")
# 生理盐水洗鼻, 用温水泡脚: a use said as advice (no amount, frequency or route of a dispensed drug)
_ADVICE_USE = re.compile(
    r"\s*(?:来|用来|做|进行|给他|给她)?(?:洗鼻|冲洗鼻腔|鼻腔冲洗|冲鼻|漱口|含漱|泡脚|热敷|冷敷|湿敷|洗脸|洗澡|擦身|"
    r"坐浴|清洗|冲洗|洗手|洗眼|擦洗)"
)
# 复方氯己定含漱液, 炉甘石洗剂: a product made for that use is prescribed even when its sig is missing
_FOR_THAT_USE = re.compile(r"(?:含漱液|漱口液|漱口水|洗剂|洗液|冲洗液|湿敷液)$")
# 含硝酸甘油两三分钟能缓解, 吃了布洛芬就好了: what the drug did, not a line
_HISTORY_USE_AFTER = re.compile(
    r"[^，。；\d]{0,8}?(?:能|可以|就|才|会)?(?:缓解|好转|好了|好一点|管用|有效|没效|不管用|效果)"
)
# 青霉素不过敏, 头孢也过敏, 青霉素没有过敏: an allergy statement said of the drug
_ALLERGY_SAID_AFTER = re.compile(r"\s*(?:类|类的)?(?:也|都|是|倒是|从来|从不)?(?:不|没|没有|无|未)?过敏")
# 心内科开了多沙唑嗪, 外院开的, 社区医生给开了: a drug another department, hospital or doctor prescribed
# …开的氯吡格雷继续吃，这次在我们这里开一个月: another doctor's drug renewed here is a line (review 2026-12-08)
_RENEWED = re.compile(
    r"继续|接着|照旧|照常|续开|再开|这次|这里开|开[一两三四五六七八九十\d]|带[一两三四五六七八九十\d]"
)


def _sentence_end(text: str, start: int, limit: int) -> int:
    m = re.search(r"[。；;\n]", text[start:limit])
    return start + m.start() if m else limit


_OTHER_PRESCRIBER = re.compile(
    r"(?:科|医院|外院|他院|医生|大夫|诊所|卫生院|门诊|专家)(?:的)?(?:医生|大夫)?(?:给(?:他|她|我|你)?)?"
    r"(?:开了|开的|开过|开)(?:点|些)?(?:的)?\s*$"
)
_NAME_CORRECTED = re.compile(r"不对|说错|错了|口误|哦不是|不是(?:这个|那个)?$|应该是|我是说")
# 络活喜就是苯磺酸氨氯地平片: the brand said first, the name it stands for next; the item is the latter
_ALIAS_GAP = re.compile(r"\s*(?:也就是|就是|即)(?:那个)?\s*")


def _stopped_later(text: str, d: Candidate, win_end: int) -> re.Match[str] | None:
    """A stop word said a few words after the drug, before any amount, count or change of the line."""
    m = _STOPPED_LATER.match(text, d.end, win_end)
    if m is None or _NOT_STOP_GAP.search(text, d.end, m.end()) or text.startswith(("饭", "东西"), m.end()):
        return None
    return m


# The stop or switch said in the drug's own clause (the narrow rule: a26895d read stop words beyond it and
# lost prescribed drugs). A clause ends at a pause or a stop; the rule reads only a drug with no amount,
# frequency or days of its own, and every stop word it reads is a stop (不要去掉, 别停, 不能停, 继续 are not).
_OWN_CLAUSE_END = re.compile(r"[，,。；;！!？?\n]")
_OWN_FILLER = r"(?:这个药|这个|那个|这药)?(?:就|也|都|先|暂时|暂且|暂|以后|今后|之后|从今天起|从现在起|现在)*"
# 硝苯地平暂不服用, 格列本脲去掉, 硝苯地平不再服用: the rest of the drug's clause is only the stop
_OWN_STOP_AFTER = re.compile(
    rf"\s*(?:片|胶囊)?\s*{_OWN_FILLER}"
    r"(?:去掉|换掉|撤掉|拿掉|停掉|停用|停服|停药|暂停(?:服用|使用|用药)?|不用了|不吃了|不服了"
    r"|暂不(?:服用|使用|吃|用|服)|(?:不再|不要再|别再)(?:服用|使用|吃|用|服))"
    r"(?:了|吧|啦)?\s*"
)
# 不再服用硝苯地平, 去掉格列本脲, 换掉硝苯地平, 暂停硝苯地平: the clause opens with the stop said of the drug
_OWN_STOP_BEFORE = re.compile(
    rf"\s*(?:另外|同时|并且|并|然后|还有)?{_OWN_FILLER}"
    r"(?:把)?(?:去掉|换掉|撤掉|拿掉|停掉|停用|停服|暂停(?:服用|使用)?|暂不(?:服用|使用|吃|用)"
    r"|(?:不再|不要再|别再)(?:服用|使用|吃|用|服))\s*"
)
# 以氨氯地平代替硝苯地平, 用氨氯地平五毫克一天一次替换硝苯地平, …，代替硝苯地平: the drug replaced
_REPLACED_BEFORE = re.compile(r"(?:代替|替代|取代|替换)(?:掉)?\s*$")
_REPLACE_NEGATED = re.compile(r"不能|不要|不可|不用|不必|别|勿|无法|没法")
# 卡托普利换依那普利…, 硝苯地平改氨氯地平…: a bare 改/换 is all that is said between the drug and the next
_BARE_SWITCH = re.compile(r"\s*(?:改|换)(?:成|为|用|服|吃)?\s*")
_KEEP_WORD = re.compile(r"继续|照旧|照常|接着|不变|保留|维持|依然|仍然|还是")
# 血压低于一百的时候，硝苯地平暂不服用 / 硝苯地平改氨氯地平的话…: a hold or a switch under a condition, a line
_OWN_IF = re.compile(
    r"如果|要是|的话|万一|假如|倘若|若是|时候|(?<![一同])时(?!间)|低于|高于|超过|不到|期间|术前|检查前|是否|考虑|再说|不行|不改|不换"
)


def _own_clause(text: str, start: int, end: int, lo: int, hi: int) -> tuple[int, int]:
    """The clause a span lies in: from the boundary before ``start`` (not before ``lo``) to the one after
    ``end`` (not after ``hi``)."""
    before = max((text.rfind(ch, lo, start) for ch in "，,。；;！!？?\n：:"), default=-1)
    after = _OWN_CLAUSE_END.search(text, end, hi)
    return (before + 1 if before >= lo else lo), (after.start() if after else hi)


def _switched_away_own(
    text: str, sec_drugs: Sequence[Candidate], k: int, sig: dict[str, Any] | None, lo: int, win_end: int
) -> bool:
    """The ``k``-th drug, said with no amount, frequency or days of its own, is stopped or switched away in
    its own clause: 硝苯地平暂不服用 / 格列本脲去掉 (the rest of its clause is the stop), 不再服用硝苯地平 /
    换掉硝苯地平 (its clause opens with the stop), 以氨氯地平代替硝苯地平 / 氨氯地平…，代替硝苯地平 (it is
    what is replaced, not under a negation: 不能用保健品代替…), 卡托普利换依那普利 (a bare 改/换 is all that
    is said before the next drug). A stop word of another clause never removes it (氨氯地平片两盒，改氢氯噻嗪
    为隔天一次: amlodipine stays), and 不要去掉, 别停, 不能停, 继续 are no stop."""
    if sig and any(sig[key] for key in ("strength", "dose", "frequency", "duration")):
        return False  # 改氢氯噻嗪为隔天一次: its own sig is said, it is a line
    d = sec_drugs[k]
    c_start, c_end = _own_clause(text, d.start, d.end, lo, win_end)
    if _KEEP_WORD.search(text, c_start, c_end) or _OWN_IF.search(text, c_start, c_end):
        return False
    p_start, _ = _own_clause(text, max(lo, c_start - 1), max(lo, c_start - 1), lo, c_start)
    if c_start > lo and text[c_start - 1] in "，," and _OWN_IF.search(text, p_start, c_start):
        return False  # the clause before is a condition: the stop is a hold, not a stop
    if _OWN_STOP_AFTER.fullmatch(text, d.end, c_end):
        return True
    if _OWN_STOP_BEFORE.fullmatch(text, c_start, d.start):
        return True
    rep = _REPLACED_BEFORE.search(text, c_start, d.start)
    if rep is not None and not _REPLACE_NEGATED.search(text, c_start, rep.start()):
        opener = text[c_start : rep.start()].strip()
        prev_in = k > 0 and sec_drugs[k - 1].start >= c_start
        # 氨氯地平代替硝苯地平 (not the bare 替换: 硝苯地平替换氨氯地平 could be said either way)
        by_prev = (
            prev_in and not text[c_start : sec_drugs[k - 1].start].strip() and "替换" not in rep.group(0)
        )
        if not opener or (prev_in and re.match(r"(?:以|用|拿|改用|换用)", opener)) or by_prev:
            return True
    if rep is not None and k > 0 and c_start <= sec_drugs[k - 1].start and sec_drugs[k - 1].end < rep.start():
        # …用非布司他片…开一个月代替别嘌醇 (no pause said): the line of the drug before, then what it replaces;
        # a negation is read near that line only (the clause may hold the history: 原来吃别嘌醇…)
        p = sec_drugs[k - 1]
        near = text[max(c_start, p.start - 6) : p.start] + "\x00" + text[p.end : rep.start()]
        if rep.group(0).strip() != "替换" and not _REPLACE_NEGATED.search(near):
            return True
    nxt = sec_drugs[k + 1] if k + 1 < len(sec_drugs) else None
    if nxt is None or not _BARE_SWITCH.fullmatch(text, d.end, nxt.start):
        return False
    _, n_end = _own_clause(text, nxt.start, nxt.end, lo, len(text))
    return not _OWN_IF.search(text, nxt.end, n_end)  # 硝苯地平改氨氯地平的话…: a switch considered


# 二甲双胍先停，三天后再吃 / 停用二甲双胍一周后再吃 / 阿司匹林停七天，手术后再吃: a pause said to end (the drug is
# taken again, so the audit must see it: the line is kept, with the sig said for it if any)
_RESUME_AFTER_PAUSE = re.compile(
    rf"(?:(?:后|以后|之后|过后)|(?:{V.NUM}|半|几)\s*(?:个)?(?:天|日|周|星期|礼拜|月))\s*[，,]?\s*"
    r"(?:再(?:接着)?(?:吃|用|服|打|开始)|恢复(?:服用|使用|用药)?|重新(?:吃|用|服|开始))"
)


# 布洛芬暂不服用，疼了再吃 / 如果疼得厉害再吃一粒 / 硝苯地平暂不服用，血压高了再吃: the pause ends on a symptom; the
# patient will take it, so the audit must see it (review of 2026-12-08: the line was dropped, RX-DDI-038 lost)
_RESUME_ON_NEED = re.compile(
    r"(?:了|的话|时|时候|厉害|严重|不好|发作|需要|起来)\s*[，,]?\s*再(?:接着)?(?:吃|喝|用|服|喷|含|打)"
)


def _resumed_after_pause(text: str, sec_drugs: Sequence[Candidate], k: int, win_end: int) -> bool:
    """A resume word said after a pause in the drug's window, after a time or on a symptom, not of the drug
    said next (…，三天后再吃阿司匹林)."""
    d = sec_drugs[k]
    stop = re.search(r"[。；;！!？?\n]", text[d.end : win_end])
    end = d.end + stop.start() if stop else win_end
    m = _RESUME_AFTER_PAUSE.search(text, d.end, end) or _RESUME_ON_NEED.search(text, d.end, end)
    if m is None:
        return False
    of_next = k + 1 < len(sec_drugs) and end == win_end and win_end - m.end() <= 2
    return not (of_next and not re.search(r"[，,、\s]", text[m.end() : win_end]))


def _alias_of_next(text: str, sec_drugs: Sequence[Candidate], k: int) -> bool:
    """The ``k``-th drug is followed right away by 就是 and the next drug (a brand and its name)."""
    if k + 1 >= len(sec_drugs):
        return False
    m = _ALIAS_GAP.fullmatch(text, sec_drugs[k].end, sec_drugs[k + 1].start)
    return m is not None


def _not_prescribed(
    text: str, sec_drugs: Sequence[Candidate], k: int, sig: dict[str, Any] | None = None
) -> bool:
    """The ``k``-th drug of a plan is stopped, avoided, switched from, a drug of the past said with no
    sig, a brand named again right after (络活喜就是氨氯地平: the item is the second name), or a class word
    naming the drug said next: not an item."""
    d = sec_drugs[k]
    win_end = sec_drugs[k + 1].start if k + 1 < len(sec_drugs) else len(text)
    if _alias_of_next(text, sec_drugs, k):
        return True
    said = bool(sig) and any(sig[key] for key in ("strength", "dose", "frequency"))
    if not said and k >= 2 and _ALIAS_GAP.fullmatch(text, sec_drugs[k - 1].end, d.start):
        named = text[sec_drugs[k - 1].start : sec_drugs[k - 1].end]
        if any(text[o.start : o.end] == named for o in sec_drugs[: k - 1]):
            return True  # …雷诺考特就是布地奈德鼻喷剂: a line said before, explained again by its other name
    if not said and _PAST_BEFORE.search(text, max(0, d.start - 8), d.start):
        return True
    # 胰岛素代替格列吡嗪, 开胰岛素: the class word alone names no product, and no dose is said
    if not said and text[d.start : d.end] == "胰岛素":
        return True
    # 青霉素不过敏，皮试做过: a drug named in an allergy statement (negated or not) is no line
    if not said and _ALLERGY_SAID_AFTER.match(text, d.end, win_end):
        return True
    if (
        not said
        and _OTHER_PRESCRIBER.search(text, max(0, d.start - 12), d.start)
        and not _RENEWED.search(text, d.end, _sentence_end(text, d.end, win_end))
    ):
        return True  # 另外心内科开了多沙唑嗪: another doctor's prescription, a current medication, not a line
    unsaid = sig is not None and not any(sig[key] for key in _SIG_KEYS)
    if unsaid and _ADVICE_USE.match(text, d.end, win_end) and not _FOR_THAT_USE.search(text, d.start, d.end):
        return True  # 生理盐水洗鼻, 淡盐水漱口: a use advised, no dispensing sig
    if unsaid and _HISTORY_USE_AFTER.match(text, d.end, win_end):
        return True  # 含硝酸甘油两三分钟能缓解: how a drug worked, told in the history
    resumed = _resumed_after_pause(text, sec_drugs, k, win_end)  # 先停，三天后再吃: a pause, the line kept
    if _stopped_later(text, d, win_end) and not resumed:
        return True
    nxt = _STOPPED_NEXT_CLAUSE.match(text, d.end) if unsaid else None  # no endpos: $ is the text's end
    if nxt and nxt.end() <= win_end and not _NOT_STOP_GAP.search(text, d.end, nxt.end()) and not resumed:
        return True  # 二甲双胍已经停冷，不再吃: the stop is the next clause
    if sig is not None and not unsaid and not resumed and _stop_clause(text, d, win_end, sig):
        return True  # 二甲双胍零点五克，不再吃 / …一天两次，先不吃了: the stop is the clause after its sig
    clause = re.search(r"[。；;]", text[d.end : win_end])
    clause_end = d.end + clause.start() if clause else win_end
    kept = bool(
        _DISPENSED_AFTER_ALL.search(text, d.end, clause_end)
        or _CONTINUED.search(text, d.end, clause_end)
        or _CONTINUED.search(text, max(0, d.start - 4), d.start)
    )  # 华法林继续吃，家里还有，这次不开 / 家里有，再开两盒: a line (taken or dispensed)
    if not said and not kept and _NOT_DISPENSED.search(text, d.end, clause_end):
        return True  # 家里还有，这次不开: kept from home, not dispensed now
    if not kept and not resumed and _switched_away_own(text, sec_drugs, k, sig, 0, win_end):
        return True  # 硝苯地平暂不服用, 不再服用硝苯地平, 以氨氯地平代替硝苯地平, 卡托普利换依那普利
    amount = bool(sig) and any(sig[key] for key in ("strength", "dose"))
    if not amount and not kept and _HOME_BEFORE.search(text, max(0, d.start - 8), d.start):
        return True  # 家里有布洛芬疼得厉害可以吃两天, 家里有布洛芬的话…: the patient's own supply
    if (
        not said
        and k + 1 < len(sec_drugs)
        and _BOTH_JOIN.fullmatch(text, d.end, win_end)
        and _BOTH_STOPPED.match(text, sec_drugs[k + 1].end)
    ):
        return True  # 思力华和信必可都停掉: the stop is said for both drugs named together (never 吃完了)
    if not said and k + 1 < len(sec_drugs) and _NAME_CORRECTED.search(text, d.end, win_end):
        return True  # 还是开缬沙坦哎不对她吃的是厄贝沙坦…: the name said first was corrected
    before = _STOPPED_BEFORE.search(text[max(0, d.start - 3) : d.start])
    if before and re.search(
        r"(?:不要|不能|不可|不|别|勿|没|未)$", text[max(0, d.start - 6) : d.start - len(before.group(0))]
    ):
        before = None  # 不要停氨氯地平: keep taking it
    if (
        before
        and k
        and _STOPPED_AFTER.match(text, sec_drugs[k - 1].end)
        and _STOPPED_AFTER.match(text, sec_drugs[k - 1].end).end() >= d.start - 1
    ):
        before = None  # 阿托伐他汀停掉 瑞舒伐他汀…: the stop word belongs to the drug before
    if before and k:
        prev_stop = _stopped_later(text, sec_drugs[k - 1], d.start)
        if prev_stop and d.start - prev_stop.end() <= 4:
            before = None  # 二甲双胍…不能再吃了停掉 利格列汀…: the stop word belongs to the drug before
    avoid = _AVOID_BEFORE.search(text[max(0, d.start - 6) : d.start])
    if avoid and k:
        prev_stop = _STOPPED_AFTER.match(text, sec_drugs[k - 1].end)
        avoid_at = d.start - len(avoid.group(0))
        if (
            prev_stop
            and avoid_at - prev_stop.end() <= 4
            and not re.search(rf"{V.NUM}|[，。；]", text[prev_stop.end() : avoid_at])
        ):
            avoid = None  # 别嘌醇马上停以后都不能用 氯雷他定…: the ban is on the drug stopped before
        prev_later = _stopped_later(text, sec_drugs[k - 1], d.start)
        if avoid is not None and prev_later and prev_later.end() >= d.start - 1:
            avoid = None  # 非布司他先不用 秋水仙碱…: the 不用 closes the line before
    if resumed:
        before = None  # 停用二甲双胍一周后再吃: a pause said to end
    stopped = bool((_STOPPED_AFTER.match(text, d.end) and not resumed) or before or avoid)
    if _SKIN_TEST.match(text, d.end) and not _SIG_AFTER_SKIN.match(text, d.end):
        stopped = True  # 青霉素皮试阴性，阿莫西林…: the skin test is named by its allergen, not prescribed
    nxt = sec_drugs[k + 1] if k + 1 < len(sec_drugs) else None
    if (
        nxt is not None
        and nxt.start - d.end <= 1
        and (
            text[d.start : d.end] in text[nxt.start : nxt.end]
            or (text[d.start : d.end].endswith("胰岛素") and "insulin" in (nxt.normalized or ""))
        )
    ):
        stopped = True  # 基础胰岛素甘精胰岛素注射液: the class word names the drug said next
    if k + 1 < len(sec_drugs):  # X换成Y, X引起咳嗽换成Y: the cue right before the next drug
        cues = list(_SWITCH_CUE.finditer(text, d.end, sec_drugs[k + 1].start))
        if cues and _switch_target(text, cues[-1].end(), sec_drugs[k + 1].start):
            stopped = True
    return stopped


def _place_sig_values(
    cands: list[Candidate], sig_cands: list[Candidate]
) -> tuple[list[Candidate], set[tuple[int, int, str]]]:
    """The entities with the sig values added where nothing else was found (a symptom, body part or
    disease word inside a frequency or route phrase gives way to it), and the (start, end, label) of
    the sig values kept: an item only takes a value that became an entity."""
    if not sig_cands:
        return cands, set()
    freq_spans = [(c.start, c.end) for c in sig_cands if c.label in ("frequency", "route")]
    cands = [
        c
        for c in cands
        if not (
            c.label in ("symptom", "body_part", "disease")
            and any(c.start < e and s < c.end for s, e in freq_spans)
        )
    ]
    occupied = [(c.start, c.end) for c in cands]
    sig_kept = [
        c for c in _resolve_overlaps(sig_cands) if not any(c.start < e and s < c.end for s, e in occupied)
    ]
    cands = sorted([*cands, *sig_kept], key=lambda c: c.start)
    return cands, {(c.start, c.end, c.label) for c in sig_kept}


def _entities(
    text: str, raw: str, cands: Iterable[Candidate], sections: Sequence[SectionSpan]
) -> tuple[Entity, ...]:
    """One :class:`Entity` per candidate: its text from ``raw``, negation (symptoms and diseases) and
    section from ``text``."""
    return tuple(
        Entity(
            label=EntityLabel(c.label),
            start=c.start,
            end=c.end,
            text=raw[c.start : c.end],
            normalized=c.normalized or None,
            negated=c.label in ("symptom", "disease")
            and _negated(text, c.start, _section_start(c.start, sections)),
            source=c.source if c.source in ("lexicon", "rule", "model") else "rule",  # type: ignore[arg-type]
            section=_section_at(c.start, sections),
        )
        for c in cands
    )


def _first_kept(sig: dict[str, Any], key: str, kept_ids: set[tuple[int, int, str]]) -> Candidate | None:
    """The first ``key`` value of a line's sig that became an entity."""
    return next((c for c in sig[key] if (c.start, c.end, c.label) in kept_ids), None)


_SAME_AS = re.compile(r"\s*(?:也就是|就是|即|相当于)\s*")
# 零点五克一片的: the count names the unit the strength is for, it is not the dose
_SPEC_COUNT_AFTER = re.compile(r"的|装")


def _build_item(
    text: str, raw: str, d: Candidate, sig: dict[str, Any], kept_ids: set[tuple[int, int, str]]
) -> ExtractedItem:
    """The prescription item of the drug ``d`` from the first kept value of each sig field."""
    strength, dose, freq, route, dur = (_first_kept(sig, k, kept_ids) for k in _SIG_KEYS)
    amount, unit = (None, None)
    split = sig.get("split")
    notes = list(sig["note"])
    if split is not None:
        # 早餐前十六个单位晚餐前十八个单位: the larger single dose, each time's dose in the note (_split_doses)
        a, _, u = (split[0].normalized or "").partition(" ")
        amount, unit = float(a), u or None
        notes = [n for n in notes if n not in split[1]] + [split[1]]
    elif (
        dose
        and dose.normalized
        and strength is not None
        and strength.end <= dose.start
        and _SAME_AS.fullmatch(text, strength.end, dose.start)
        and _said_as_dose(text, strength, d.end)
    ):
        # 三点七五毫克就是一片半: the amount is the dose, the count only says it again
        a, _, u = (strength.normalized or "").partition(" ")
        amount, unit, strength = float(a), u, None
    elif dose and dose.normalized:
        a, _, u = dose.normalized.partition(" ")
        amount, unit = float(a), u or None
    elif strength is not None and _said_as_dose(text, strength, d.end):
        # 氨氯地平5毫克每日一次: the amount said with no count of tablets is the dose, not the strength
        a, _, u = (strength.normalized or "").partition(" ")
        amount, unit, strength = float(a), u, None
    last_end = max([d.end, *(c.end for c in (strength, dose, freq, route, dur) if c)])
    skin = _SKIN_TEST.search(text, d.end, min(len(text), last_end + 12))
    if skin and skin.start() > last_end and _SKIN_GAP.sub("", text[last_end : skin.start()]):
        skin = None  # something else was said in between (another drug's test): not this line's
    if skin is None:  # 青霉素皮试阴性，阿莫西林…: said right before the line
        before = [
            m
            for m in _SKIN_TEST.finditer(text, max(0, d.start - 16), d.start)
            if not _SKIN_GAP.sub("", text[m.end() : d.start])
        ]
        skin = before[-1] if before else None
    return ExtractedItem(
        drug=raw[d.start : d.end],
        drug_id=d.normalized or None,
        strength=strength.normalized if strength else None,
        dose=amount,
        unit=unit,
        frequency=freq.normalized if freq else ("prn" if sig.get("prn") else None),
        route=route.normalized if route else None,
        days=float(dur.normalized) if dur and dur.normalized else None,
        note="，".join(notes) or None,
        start=d.start,
        end=last_end,
        skin_test=(_SKIN_RESULT[skin.group(1)] if skin.group(1) else "免试") if skin else None,
    )


# 阿莫西林…口服，皮试阴性 / 青霉素皮试阴性: a skin-test result said with the line, right after it
# (青霉素皮试不过敏: said as a negative result, not as a condition: 皮试不过敏的话再用)
_SKIN_TEST = re.compile(
    r"皮试(?:结果)?(?:为|呈|是)?\s*(阴性|阳性|\(-\)|\(\+\)|（-）|（\+）|(?:不|没有?)过敏(?!的话|就|再|才|后|了再))"
    r"|(免皮试|免试)"
)
_SIG_AFTER_SKIN = re.compile(r"皮试\S{0,6}?(?:\d|[一二两三四五六七八九十半]+(?:毫克|克|片|粒|次))")
_SKIN_GAP = re.compile(r"[，,。；;、\s]|青霉素|已做|做了|已经|已|并且|并")
_SKIN_RESULT = {
    "阴性": "阴性",
    "(-)": "阴性",
    "（-）": "阴性",
    "阳性": "阳性",
    "(+)": "阳性",
    "（+）": "阳性",
    "不过敏": "阴性",
    "没过敏": "阴性",
    "没有过敏": "阴性",
}


# 以上均一日两次口服开两周, 都是吸入的每样开两周: the values said after a cue for all lines, in one run
_DIST_RUN_CUE = re.compile(
    r"(?<![零〇一二两三四五六七八九十百千点度\d岁])以上|(?<![大首])(?<!每次)(?<!每天)都(?!不|没|还|在|挺|很|好|行|可以)"
    r"|均(?!匀)|全部|统一|每样|每种|各(?=开|吃|用|拿|带|服)"
)
_DIST_RUN_BREAK = re.compile(r"[，。；,;]|的时候|时(?!间)|如果|要是|以后|之后|然后|再|另外|还有")


def _distributive_run(text: str, line_start: int, value_start: int) -> bool:
    """A cue for all lines (以上, 都, 均, 每样…) said in the same run of sig words before the value."""
    lo = max(line_start, value_start - 14)
    cues = list(_DIST_RUN_CUE.finditer(text, lo, value_start))
    if not cues:
        return False
    gap = text[cues[-1].end() : value_start]
    return not _DIST_RUN_BREAK.search(gap)


# 都口服，开四周 / 均口服，开四周: a statement for all lines goes on after a comma with only the verb said
_DIST_GO_ON = re.compile(r"[，,]\s*(?:也|都|均|各|共)?(?:开|吃|用|拿|带|服)?(?:药)?\s*$")


def _distributive(text: str, line_start: int, value_start: int) -> bool:
    """The value is said for all lines: in a run after 以上/都/均… (:func:`_distributive_run`), or in a
    clause of its own right after such a run (都口服，开四周)."""
    if _distributive_run(text, line_start, value_start):
        return True
    m = _DIST_GO_ON.search(text, max(line_start, value_start - 8), value_start)
    return bool(m) and m.start() > line_start and _distributive_run(text, line_start, m.start())


def _apply_distributive(
    text: str, lines: Sequence[_Line], built: list[ExtractedItem], kept_ids: set[tuple[int, int, str]]
) -> tuple[list[ExtractedItem], list[set[str]]]:
    """都开一个月 / 均口服 / 均一日两次: a duration, route or frequency said for all lines applies to every
    line of the plan that did not say its own (the lines said so far, as the gold set reads it: a later
    line has its own). Also returns, per line, the fields filled this way (a line's own value said in
    another mention of the drug wins over them)."""
    filled: list[set[str]] = [set() for _ in built]
    for idx, (drug, sig) in enumerate(lines):
        for key, fieldname, cue in (
            ("duration", "days", _DISTRIBUTIVE),
            ("route", "route", _DISTRIBUTIVE),
            ("frequency", "frequency", _DISTRIBUTIVE_FREQ),
        ):
            for c in sig[key]:
                if (c.start, c.end, c.label) in kept_ids and (
                    cue.search(text[max(0, c.start - 6) : c.start]) or _distributive(text, drug.end, c.start)
                ):
                    value: Any = float(c.normalized) if fieldname == "days" and c.normalized else c.normalized
                    for k, it in enumerate(built):
                        if k < idx and getattr(it, fieldname) is None:
                            built[k] = it.model_copy(update={fieldname: value})
                            filled[k].add(fieldname)
    return built, filled


def to_sections(text: str, spans: Iterable[SectionSpan]) -> tuple[Section, ...]:
    """The record's sections from the splitter's spans, each with its text cut from ``text``."""
    return tuple(
        Section(name=s.name, start=s.start, end=s.end, text=text[s.start : s.end], cue=s.cue) for s in spans
    )


def parse_pairs(norm: str | None) -> dict[str, float]:
    """'sbp=160;dbp=95' → {'sbp': 160.0, 'dbp': 95.0}."""
    out: dict[str, float] = {}
    for part in (norm or "").split(";"):
        key, sep, value = part.partition("=")
        if sep:
            try:
                out[key.strip()] = float(value)
            except ValueError:
                continue
    return out


# 王师傅高血压糖尿病来复查, 慢阻肺来开药: the conditions the follow-up visit is for, said in the opening
_OPENING_VISIT = re.compile(
    r"(?:今天|这次)?(?:来|前来|过来|又来)?(?:复诊|复查|随诊|随访|开药|拿药|取药|配药|续药|开点药)"
)
_OPENING_NOT_DX = re.compile(r"(?:病)?史|以前|既往|去年|前年|(?:多)?年前")


def _opening_diagnoses(text: str, entities: Sequence[Entity]) -> list[Diagnosis]:
    """No diagnosis was said as such: the diagnoses named in the opening sentence right before the reason
    for a follow-up visit (王师傅高血压糖尿病来复查) are the diagnoses of the visit."""
    m = _OPENING_VISIT.search(text, 0, min(len(text), 40))
    if m is None or re.search(r"[。；;！!？?]", text[: m.start()]):
        return []
    ds = [
        e
        for e in entities
        if e.label is EntityLabel.DISEASE
        and not e.negated
        and e.end <= m.start()
        and m.start() - e.end <= 12
        and not _OPENING_NOT_DX.match(text, e.end)
        and not _OPENING_NOT_DX.search(text, max(0, e.start - 3), e.start)
    ]
    out: list[Diagnosis] = []
    for e in ds:
        dx = Diagnosis(name=e.text, icd10=e.normalized)
        if dx not in out:
            out.append(dx)
    return out


def record_fields(text: str, analysis: Analysis) -> dict[str, Any]:
    """Vitals, labs, diagnoses, history, allergies and demographics for :class:`OutpatientRecord`."""
    vitals: dict[str, float] = {}
    exam_vitals: dict[str, float] = {}
    labs: dict[str, float] = {}
    diagnoses: list[Diagnosis] = []
    history: list[Diagnosis] = []
    allergies: list[str] = []
    for e in analysis.entities:
        data = parse_pairs(e.normalized)
        if e.label is EntityLabel.VITAL:
            target = exam_vitals if e.section == "体格检查" else vitals
            for k, v in data.items():
                target.setdefault(k, v)
        elif e.label is EntityLabel.LAB:
            for k, v in data.items():
                if k in LAB_NAMES:
                    labs.setdefault(k, v)
        elif e.label is EntityLabel.DISEASE and not e.negated:
            dx = Diagnosis(name=e.text, icd10=e.normalized)
            if e.section == "诊断":
                if dx not in diagnoses:
                    diagnoses.append(dx)
            elif e.section in _HISTORY_SECTIONS and dx not in history:
                history.append(dx)
        elif e.label is EntityLabel.ALLERGEN and e.text not in allergies:
            allergies.append(e.text)
    if not diagnoses:
        diagnoses = _opening_diagnoses(text, analysis.entities)
        history = [h for h in history if h not in diagnoses]  # said as the reason of the visit
    vitals.update(exam_vitals)
    demo = V.find_demographics(text)
    weight = vitals.pop("weight_kg", None)
    height = vitals.pop("height_cm", None)
    return {
        "vitals": vitals,
        "labs": labs,
        "diagnoses": tuple(diagnoses),
        "history": tuple(history),
        "allergies": tuple(allergies),
        "weight_kg": weight,
        "height_cm": height,
        **demo,
    }
