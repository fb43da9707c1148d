"""在用药品: the drugs the patient already takes, read from what the dictation says about them.

A drug told in the history ("平时吃着华法林", "一直在用二甲双胍", "长期服用阿司匹林") is no prescription line,
but the audit must see it: warfarin at home with a prescribed NSAID is an interaction all the same. This
module reads those drugs, and only those the dictation says are taken *now*:

* a present marker is said with the drug: before it (一直吃, 平时吃, 吃着, 在吃, 长期服用, 规律服用, 目前用,
  现在打 …, possibly with other drugs and their amounts between: 平时吃络活喜和格华止), or right after it
  and its amounts (代文八十毫克一天一片，一直在吃; 家里有华法林在吃);
* and nothing in its words takes it back: a negation (没在吃, 没吃过), the past (以前一直吃…, 一直吃华法林到
  去年), a stop, a switch away or an allergy said after it (停了, 不吃了, 不用再吃, 先不用, 暂不服用, 去掉,
  撤掉, 不让吃, 换成, 改用, 今天改氨氯地平, 吃了过敏, 效果不好换了) or before it (不再服用X, 以Y代替X), a
  relative's drug (他妈妈在吃, 她婆婆在吃, 他家老人一直吃), a question (在吃华法林吗？, 平时吃着华法林？),
  conditional advice (如果疼可以吃…), the same drug stopped or switched away anywhere else in the
  dictation (处理：二甲双胍停掉，改用…) or named as an allergy. A switch target (…换成氨氯地平) is not
  read, unless the history (现病史/既往史 said by name) tells the switch as done (后来医生给换成利伐沙班了).

Address forms doctors use for the patient (王阿姨, 张大爷, 老人家, 李奶奶) are the patient; the same words
are a relative only when said as someone's (他家老人, 她婆婆, 患者的奶奶, 家里老人, 陪老人来) — or, for the
kinship ones (奶奶, 爷爷, 婆婆, 叔叔 …), when no surname comes right before them.

Sections are bounds only where their name was said (现病史：…): an inferred section may open at the very
words of a marker (王大爷房颤，平常|服用华法林), so there the sentence bounds the search.

A drug also prescribed in this visit is read all the same (the patient still takes it when the doctor
deletes its line); the audit case leaves out those the final table prescribes
(``OutpatientRecord.unprescribed_medications``). When unsure, a drug is left out: a false current
medication makes a false interaction warning on a clean visit.

Names are written as the extractor writes item drugs, resolved to the formulary's generic name where the
lexicon knows the drug (络活喜 → 氨氯地平).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.extract.numbers import NUM
from toolkit.extract.records import Entity, EntityLabel, ExtractedItem, Section

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.knowledge import Knowledge

# sections a current medication is not read from: a relative's drugs, allergy statements, advice
_NOT_FROM = frozenset({"家族史", "过敏史", "健康指导", "随访"})

_TAKE = r"(?:吃|服用|服|口服|用|使用|打|注射|皮下注射|吸入|吸|喷|含服|贴)"
# a present marker said before the drug (anchored at the end of the text before the drug or its list)
_PRESENT_BEFORE = re.compile(
    r"(?:"
    r"(?:一直|平时|平常|平素|平日|长期|常年|长年|多年来?|目前|现在|如今|仍然|仍|还|一向|每天|天天|规律|按时|坚持|日常|"
    r"每日|每晚|每早|每周|常规)(?:都|还|也|是|在|一直|坚持|规律)*" + _TAKE + r"(?:着|的是|的)?"
    # 家里吃X, 家里每晚吃X, 在家一直用X, 自己在打X (家里人 is a relative: 人 breaks the marker)
    r"|(?:家里|在家|自己)(?:一直|平时|长期|每天|每日|每晚|每早|天天|早上|晚上|早晚)?(?:都|还|也|是|在)*"
    + _TAKE
    + r"(?:着|的是|的)?"
    r"|(?:正在|在)" + _TAKE + r"(?:着|的是|的)?"
    r"|(?:吃|服|用|打|吸|喷)着(?:的是|的)?"
    r"|(?:目前|现在|平时|长期)(?:的)?用药(?:是|有|为)?"
    # 另外心内科开了多沙唑嗪, 外院开的X: another department's or hospital's prescription, taken now
    r"|(?:科|医院|外院|他院|医生|大夫|诊所|卫生院|门诊|专家)(?:的)?(?:医生|大夫)?(?:给(?:他|她|我|你)?)?开(?:了|的)(?:点|些)?"
    r")(?:的)?(?:药物|药|降压药|降糖药|降脂药|抗凝药|胰岛素)?(?:是|有|为|：|:)?\s*$"
)
# a present marker said after the drug and its amounts (代文八十毫克一天一片，一直在吃; 华法林在吃)
_PRESENT_AFTER = re.compile(
    r"(?:(?:一直|平时|平常|长期|目前|现在|还|仍|也|都|每天)(?:都|还|也|是|在)*(?:在)?" + _TAKE + r"(?:着)?"
    r"|(?:正在|在)" + _TAKE + r"(?:着)?"
    r"|(?:吃|服|用|打|吸|喷)着"
    # 自己在外面买西地那非，一周吃两三次: a regular use said after the drug (每天 is read above)
    r"|(?:一周|每周|一个星期|每个星期|每晚|每早|天天)(?:都|也|还)?(?:吃|服|用|打|吸|喷|含))"
)
# what may stand between a marker and the drug (or the drug and a marker after it): other drugs (masked as
# \x00), amounts, frequencies, times, routes and joining words — nothing else
_SIG_TOKEN = (
    rf"(?:{NUM}|半)\s*(?:个)?(?:毫克|mg|MG|克|g|微克|μg|ug|个单位|单位|IU|片|粒|袋|包|支|吸|喷|毫升|ml|mL|丸|贴)(?:的片子|的片|的)?"
    r"|(?:一天|每天|每日|一日|每晚|每早|每周|一周|隔天|天天|一次|每次|每回)(?:"
    + NUM
    + r")?(?:次|片|粒|个单位|单位)?"
    r"|" + NUM + r"次"
    r"|早上|早晨|中午|晚上|睡前|早晚|早中晚|三餐|饭前|饭后|饭中|餐前|餐后|空腹|随餐|[早中晚]"
    r"|口服|皮下注射|皮下|吸入|含服|外用|各|都是|都|也|一起|一片|一粒|的片子|的"
    r"|qd|bid|tid|qn|QD|BID|TID|QN"
)
_SEP = r"[\s、，,/+]|和|及|与|跟|加上|加|还有|以及|并|同时"
_GAP = re.compile(rf"(?:\x00|{_SEP}|{_SIG_TOKEN})*")
# after the drug, before a marker: "not to be stopped" said first (华法林不能停，一直在吃)
_KEEP_TOKEN = (
    r"(?:(?:医生|大夫)(?:说|交代|嘱咐)?)?"
    r"(?:不能|不可以|不敢|不要|不准|不许|不让|千万别|别|没|没有|从没|从未|从来没有?)停(?:过|药|掉|用)?(?:了)?"
)
_GAP_AFTER = re.compile(rf"(?:\x00|{_SEP}|{_SIG_TOKEN}|{_KEEP_TOKEN})*")
_GAP_LIST = re.compile(rf"(?:{_SEP})*")  # only joining words: the next drug continues a list
_MAX_GAP = 40
_SENTENCE_END = re.compile(r"[。；;！!？?\n]")
_SUBCLAUSE_END = re.compile(r"[。；;！!？?\n，,\s]")

# said right before the marker: the marker is denied (没在吃, 也没有在用, 不在吃)
_NEGATED_BEFORE = re.compile(
    r"(?:没|没有|未|不|否认|从不|从没|从来没有?|并没有?|也没有?|也不)(?:再|在|怎么)?$"
)
# the past said before the marker in its sub-clause: 以前一直吃, 去年吃着 (unless now is said after it)
_PAST = re.compile(
    r"以前|之前|原来|原先|过去|曾经|早年|那时|当时|刚开始|起初|去年|前年|"
    r"(?:" + NUM + r"|几|好几|十几)(?:个)?多?(?:月|年|周|星期|天)前"
)
_NOW = re.compile(r"现在|目前|如今|至今|到现在|一直到现在|还在|仍在|一直")
_RELATIVE = re.compile(
    r"父亲|母亲|父母|爸爸|妈妈|[他她]爸|[他她]妈|老爸|老妈|老伴|爱人|丈夫|妻子|老婆|老公|媳妇|儿子|女儿|闺女|"
    r"孩子|子女|儿女|家人|家里人|家属|兄弟|姐妹|哥哥|姐姐|弟弟|妹妹|邻居|朋友|同事|室友|别人|病友|亲戚|"
    r"岳父|岳母|丈母娘|老丈人|公婆|孙子|孙女|外孙|儿媳|女婿|舅舅|舅妈|姑姑|姑父|姨妈|小姨|姨父|侄子|侄女|外甥"
)
# kinship words doctors also use to address the patient (王阿姨, 张大爷, 老人家, 李奶奶, 刘婆婆): the patient
# unless said as someone else's — after a possessive (他家老人, 她婆婆, 患者的奶奶, 家里老人) or a verb of
# looking after someone (陪老人来, 照顾婆婆); a kinship word of these right after a surname is the address
# of the patient (王奶奶), else (奶奶在吃…, 他爷爷) it is a relative as before.
_ADDRESS_FORMS = (
    "老人家|老人|老太太|老爷子|老大爷|老奶奶|老爷爷|老太|阿姨|大爷|大妈|大娘|大叔|大伯|大婶|伯伯|叔叔|婶婶|"
    "婆婆|公公|爷爷|奶奶|外公|外婆|姥姥|姥爷"
)
# of the address forms, those said as kin (爷爷/奶奶/婆婆 …): a relative unless a surname comes right before
_KIN_ADDRESS = frozenset(
    {"婆婆", "公公", "爷爷", "奶奶", "外公", "外婆", "姥姥", "姥爷", "叔叔", "伯伯", "婶婶"}
)
_ADDRESS_RX = re.compile(_ADDRESS_FORMS)
_POSSESSIVE_BEFORE = re.compile(
    r"(?:(?:他|她|患者|病人|其|自己)(?:的|家的?|家里的?)?|家里的?|家中的?|自家的?|"
    r"(?:陪|陪着|照顾|伺候|照看|替|帮)(?:他|她)?(?:家)?(?:的)?)$"
)
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_QUESTION = re.compile(r"[？?]|吗|嘛|有没有|是不是|[吃用打服]不[吃用打服]|在不在|要不要|能不能|可不可以")
_CONDITIONAL = re.compile(
    r"如果|要是|假如|假设|万一|若是?|的话|必要时|需要时|需要的时候|不舒服时|的时候|可以吃|可以用|可以服|"
    r"建议|嘱|叫他|叫她|让他|让她|告诉他|告诉她"
)
# taken until a time of the past: 一直吃华法林到去年, 用到上个月 (not 吃到现在)
_UNTIL_PAST = (
    r"(?:吃|用|服|打)?到(?:了)?(?:去年|前年|上(?:个)?月|上(?:个)?(?:星期|礼拜)|上周|前几年|前些年|前几个月|"
    r"前段时间|前阵子|前一阵|(?:" + NUM + r"|几|好几|十几)(?:个)?多?(?:月|年|周|星期|天)(?:以)?前|"
    r"(?:19|20)\d\d年|[零〇一二][零〇一二三四五六七八九]{3}年)"
)
# said after the drug (before the next drug of another list): stopped, switched away, an allergy, avoided
# (不用再/不要再/先不用/暂不/去掉/撤/代替: the doctor's words for taking it off), or taken until the past
_STOP_AFTER = re.compile(
    r"停|不吃了|不用了|不打了|没吃了|没再吃|没有再吃|没在吃|不再吃|不再用|不再服|不再使用|不吃|没吃|没用|换成|换了|换为|"
    r"换用|换掉|改成|改为|改用|改吃|改打|改服|替换|代替|替代|取代|去掉|撤|暂不|先不用|先不吃|不用再|不要再|别再|"
    r"不让(?!(?:他|她|患者|病人)?停)|过敏|起疹|皮疹|疹子|红疹|瘙痒|荨麻疹|风团|副作用|不良反应|不耐受|"
    r"效果不好|没效果|没有效果|不管用|没用了|吃完就没|禁用|避免|不能吃|不能用|别吃|别用|不要吃|不要用|不宜|慎用|"
    + _UNTIL_PAST
)
# a switch said right before the next drug: 硝苯地平…今天改氨氯地平, 硝苯地平换氨氯地平; 硝苯地平被氨氯地平代替
_SWITCH_BEFORE_NEXT = re.compile(r"(?:改|换)(?:了|成|为|吃|用|服|打)?\s*$")
_REPLACED_BY_NEXT = re.compile(r"(?:被|由)\s*$")
_REPLACING_AFTER = re.compile(r"\s*(?:代替|替代|取代|替换|换掉|顶替)")
# 不要停, 别停, 不能停: keep taking it (no stop)
_KEEP_BEFORE_STOP = re.compile(r"(?:不要|不能|不可|别|勿|不准|不许|不让|千万别|没|没有|未|从未|从没|不敢)$")
# said right before the drug: 停用X, 停掉X, 不再吃X, 没吃X, 把X (a stop after it), 换成X (a switch target)
_STOP_BEFORE = re.compile(
    r"(?:停用|停掉|停了|停服|停|不再吃|不再用|不再服用?|不再使用|没再吃|不吃|没吃|没有吃|没在吃|没用|没有用|未用|未服用?|"
    r"暂不(?:吃|用|服用?|使用)?|先不(?:吃|用)|不用再(?:吃|用)|不要再(?:吃|用)|别再(?:吃|用)|不让(?:他|她)?(?:吃|用)|"
    r"去掉|撤掉|撤|代替|替代|取代|替换掉?|换掉|别吃|不要吃|不能吃|禁用|避免)(?:了)?(?:原来的|那个|这个)?\s*$"
)
_SWITCH_TO_BEFORE = re.compile(r"(?:换成|换为|换用|改成|改为|改用|改吃|改服|替换为|替换成|改|换)(?:了)?\s*$")
_STOP_WINDOW = 24
_BOTH = re.compile(r"都|全|一起|均|两个|俩|两种|这些|同时")
# a class word read as a drug, and what the formulary ids of its class contain
_CLASS_WORDS = {"胰岛素": "insulin"}
# 高血压吃氨氯地平, 糖尿病，吃二甲双胍: a plain taking word right after a chronic condition
_CONDITION_TAKES = re.compile(
    rf"\s*(?:(?:{NUM}|几|好几|十几|多)(?:个)?多?(?:年|个月)(?:了|多)?)?[，,\s]?(?:一直|也|还|都|在)?"
    r"(?:吃|服用|服|口服|用|打)\s*"
)
# conditions that are no reason for a drug taken every day (an acute infection, a symptom, an injury)
_NOT_CHRONIC_ICD = re.compile(r"^(?:A|B|J0|J1|J2|R|S|T|H6|K52|N30|L0)")


@dataclass(frozen=True)
class CurrentMedication:
    """One drug read as taken now: the name written and the mention it was read from."""

    name: str
    drug_id: str | None
    start: int
    end: int
    section: str | None


def medication_name(e: Entity, kb: Knowledge | None) -> str:
    """The name a drug mention is written as: the formulary's generic name when the lexicon knows the drug
    (络活喜 → 氨氯地平), else the name as said (a colloquial short name as its full name)."""
    from toolkit.extract.lexicon import prescription_name

    if kb is not None and e.normalized and e.normalized in kb.drugs:
        return kb.drugs[e.normalized].name
    return prescription_name(e.text)


def _mask(text: str, start: int, end: int, drugs: Sequence[Entity]) -> str:
    """text[start:end] with every drug mention in it replaced by \\x00 characters."""
    chars = list(text[start:end])
    for d in drugs:
        for i in range(max(d.start, start), min(d.end, end)):
            chars[i - start] = "\x00"
    return "".join(chars)


def _sentence_start(text: str, pos: int, floor: int) -> int:
    for i in range(pos - 1, floor - 1, -1):
        if _SENTENCE_END.match(text[i]):
            return i + 1
    return floor


def _sentence_end(text: str, pos: int, ceil: int) -> int:
    m = _SENTENCE_END.search(text, pos, ceil)
    return m.start() if m else ceil


def _subclause_start(text: str, pos: int, floor: int) -> int:
    i = pos
    while i > floor and text[i - 1].isspace():
        i -= 1
    for j in range(i - 1, floor - 1, -1):
        if _SUBCLAUSE_END.match(text[j]):
            return j + 1
    return floor


def _marker_before(
    text: str, d: Entity, drugs: Sequence[Entity], floor: int, chronic_ends: frozenset[int] = frozenset()
) -> int | None:
    """Start of the present marker said before ``d`` (directly, or before a list of drugs and amounts); a
    chronic condition said right before a plain 吃/用 is one too (高血压吃氨氯地平, 甲减吃优甲乐)."""
    lo = max(floor, d.start - _MAX_GAP)
    for p in range(d.start, lo - 1, -1):
        if p < d.start and not _GAP.fullmatch(_mask(text, p, d.start, drugs)):
            continue
        if any(o.start < p < o.end for o in drugs):
            continue
        m = _PRESENT_BEFORE.search(text, max(floor, p - 14), p)
        if m:
            return m.start()
        for e in range(max(floor, p - 12), p):
            if e in chronic_ends and _CONDITION_TAKES.fullmatch(text, e, p):
                return e
    return None


def _marker_after(text: str, d: Entity, drugs: Sequence[Entity], ceil: int) -> tuple[int, int] | None:
    """Span of the present marker said after ``d`` and its amounts (…八十毫克一天一片，一直在吃)."""
    hi = min(ceil, d.end + _MAX_GAP)
    for p in range(d.end, hi + 1):
        if p > d.end and not _GAP_AFTER.fullmatch(_mask(text, d.end, p, drugs)):
            continue
        m = _PRESENT_AFTER.match(text, p, ceil)
        if m and not any(m.end() <= o.start <= m.end() + 3 for o in drugs):
            return m.start(), m.end()  # (…，现在吃利伐沙班: the marker of the drug said next)
    return None


def _stop_in(text: str, start: int, stop: int, both: bool = False) -> bool:
    for m in _STOP_AFTER.finditer(text, start, stop):
        if m.group(0).startswith("停") and _KEEP_BEFORE_STOP.search(text, max(0, m.start() - 4), m.start()):
            continue  # 华法林不能停, 没停过: keep taking it
        if both and not _BOTH.search(text, start, m.start()):
            continue  # …和美托洛尔，美托洛尔上周停了: the stop is the other drug's
        return True
    return False


def _stopped_after(text: str, d: Entity, drugs: Sequence[Entity], ceil: int) -> bool:
    """A stop, switch, allergy or ban said after ``d`` before another drug; or after the drugs listed with
    it when said of them all (华法林和阿司匹林都停了)."""
    later = sorted((o for o in drugs if o.start >= d.end), key=lambda o: o.start)
    own_end = min(
        later[0].start if later else ceil, ceil, d.end + _STOP_WINDOW, _sentence_end(text, d.end, ceil)
    )
    if _stop_in(text, d.end, own_end):
        return True
    if later and later[0].start - d.end <= _STOP_WINDOW:
        gap = text[d.end : later[0].start]
        if not _SENTENCE_END.search(gap) and (
            _SWITCH_BEFORE_NEXT.search(gap)  # 硝苯地平，脚肿，今天改氨氯地平
            or (_REPLACED_BY_NEXT.search(gap) and _REPLACING_AFTER.match(text, later[0].end))
        ):
            return True
    end, names = d.end, {d.normalized or d.text}
    for o in later:  # the list goes on
        if _GAP_LIST.fullmatch(text, end, o.start) and (o.normalized or o.text) not in names:
            end = o.end
            names.add(o.normalized or o.text)
        else:
            break
    if end == d.end:
        return False
    nxt = next((o.start for o in later if o.start >= end), ceil)
    stop = min(nxt, ceil, end + _STOP_WINDOW, _sentence_end(text, end, ceil))
    return _stop_in(text, end, stop, both=True)


def _stopped_before(text: str, d: Entity) -> bool:
    return bool(
        _STOP_BEFORE.search(text, max(0, d.start - 8), d.start)
        and not _KEEP_BEFORE_STOP.search(text, max(0, d.start - 10), max(0, d.start - 2))
    )


def _said_away(text: str, d: Entity, drugs: Sequence[Entity], ceil: int) -> bool:
    """The mention says the drug is stopped, switched from, avoided or an allergy (wherever it is said)."""
    if _stopped_before(text, d):
        return True
    return _stopped_after(text, d, drugs, ceil)


# the patient named again after someone else (她婆婆去世了，本人房颤…): what comes after is the patient's
_PATIENT_AGAIN = re.compile(r"本人|患者|病人|他自己|她自己|自己")
# who tells the history (家属代诉, 老伴说) or whom the patient is like (跟她婆婆一样, 也在吃): not whose drug it is
_NOT_THE_TAKER = re.compile(
    r"(?:" + _RELATIVE.pattern + r"|" + _ADDRESS_FORMS + r")(?:代诉|代述|诉|述|说|反映|陪诊|陪同)"
    r"|(?:跟|和|与|同|像)(?:[他她]的?|患者的?)?(?:" + _RELATIVE.pattern + r"|" + _ADDRESS_FORMS + r")一样"
)


def _relative_in(scope: str) -> bool:
    """Someone else than the patient is named in ``scope`` (the words said before the marker or the drug):
    a relative, or an address form said as someone's (他家老人, 她婆婆; not 王阿姨, 老人家一直吃…). Not: the
    teller of the history (家属代诉), a likeness (跟她婆婆一样), or someone named before the patient is
    named again (她婆婆去世了，本人…)."""
    again = [m for m in _PATIENT_AGAIN.finditer(scope) if scope[m.end() : m.end() + 1] != "的"]
    if again:
        scope = scope[again[-1].end() :]
    scope = _NOT_THE_TAKER.sub(lambda m: "\x00" * len(m.group(0)), scope)
    masked = scope
    for m in _ADDRESS_RX.finditer(scope):
        before = scope[: m.start()]
        if _POSSESSIVE_BEFORE.search(before):
            return True  # 他家老人, 她婆婆, 家里老人, 陪老人
        if m.group(0) in _KIN_ADDRESS and not (before and before[-1] in _SURNAMES):
            return True  # 奶奶在吃, 他爷爷 (王奶奶: the patient)
        masked = masked[: m.start()] + "\x00" * (m.end() - m.start()) + masked[m.end() :]
    return bool(_RELATIVE.search(masked))


def _spoken_header(s: Section) -> bool:
    """The section was opened by its spoken name (现病史：, 既往史, 处理:), not inferred from its content: an
    inferred section may open at the very words of a marker (平常|服用华法林, 阿司匹林|一直吃着), so it
    is no bound of what is said about a drug."""
    from toolkit.extract.sections import _CUE_RX

    if not s.cue:
        return False
    cue = s.cue.strip()
    return any(sec == s.name and strong and rx.fullmatch(cue) for sec, strong, rx in _CUE_RX)


def _section_bounds(pos: int, sections: Sequence[Section], length: int) -> tuple[int, int]:
    """The span of the section said at ``pos``, sections bounded only where a section's name was said
    (the marker and stop searches are otherwise bounded by the sentence)."""
    lo, hi = 0, length
    for s in sections:
        if not _spoken_header(s):
            continue
        if s.start <= pos:
            lo = s.start
            hi = length
        elif hi == length:
            hi = s.start
    return lo, hi


def _read_current(
    text: str,
    d: Entity,
    drugs: Sequence[Entity],
    sections: Sequence[Section],
    chronic_ends: frozenset[int] = frozenset(),
) -> bool:
    """``d`` is said as a drug the patient takes now."""
    if d.negated or d.section in _NOT_FROM:
        return False
    lo, hi = _section_bounds(d.start, sections, len(text))
    s_start = _sentence_start(text, d.start, lo)
    s_end = _sentence_end(text, d.end, hi)
    marker = _marker_before(text, d, drugs, s_start, chronic_ends if d.section != "处理" else frozenset())
    switched_to = False
    if marker is not None:
        if _NEGATED_BEFORE.search(text, max(s_start, marker - 4), marker):
            return False
        sub = _subclause_start(text, marker, s_start)
        said_before = text[sub:marker]
        past = _PAST.search(said_before)
        if past and not _NOW.search(said_before, past.end()):
            return False
        scope = text[max(s_start, marker - 12) : marker]
    elif (cue := _switched_to_before(text, d, drugs, sections, s_start, s_end)) is not None:
        # 后来医生给换成利伐沙班了: the drug switched to, said as done in the history, is taken now
        switched_to = True
        scope = text[max(s_start, cue - 12) : cue]
    else:
        after = _marker_after(text, d, drugs, s_end)
        if after is None:
            return False
        if _NEGATED_BEFORE.search(text, max(d.end, after[0] - 4), after[0]) or re.match(
            r"(?:过|了)", text[after[1] : after[1] + 1]
        ):
            return False  # 华法林没在吃, 华法林吃过
        if _NOW.search(text, after[0], after[1]) is None and _PAST.search(
            text, _subclause_start(text, d.start, s_start), d.start
        ):
            return False  # 以前华法林在吃
        sub = _subclause_start(text, d.start, s_start)
        scope = text[max(s_start, sub - 12) : d.start]
    if _relative_in(scope):
        return False  # 他妈妈也在吃华法林, 他家老人一直吃华法林
    clause = text[s_start : s_end + 1]  # with its closing mark: 平时吃着华法林？
    if _QUESTION.search(clause.replace("什么", "").replace("吗啡", "")):
        return False  # 平时在吃华法林吗？
    sub_start = _subclause_start(text, marker if marker is not None else d.start, s_start)
    sub_end = _SUBCLAUSE_END.search(text, d.end, s_end)
    if _CONDITIONAL.search(text, sub_start, sub_end.start() if sub_end else s_end):
        return False  # 如果疼可以吃布洛芬
    if _stopped_before(text, d):
        return False
    if not switched_to and _SWITCH_TO_BEFORE.search(text, max(0, d.start - 6), d.start):
        return False  # 换成氨氯地平: a switch target is not read (the switch may be today's plan)
    return not _stopped_after(text, d, drugs, hi)


# a switch said as done in the history: the cue right before the drug (换成了X, 改吃X)
_SWITCH_DONE_CUE = re.compile(r"(?:换成|换为|换用|改成|改为|改用|改吃|改服|改打)(?P<le>了)?\s*$")
_DONE_BEFORE = re.compile(r"后来|已经|已|之后|以后|现在|目前|如今|停了|不吃了|住院")
_PLAN_WORDS = re.compile(
    r"今天|今日|这次|本次|此次|建议|拟|准备|打算|考虑|想|要|需要|可以|可考虑|待|明天|下次|回去"
)


def _switched_to_before(
    text: str, d: Entity, drugs: Sequence[Entity], sections: Sequence[Section], s_start: int, s_end: int
) -> int | None:
    """Start of the switch cue before ``d`` when the history says the patient was switched to ``d`` (后来
    医生给换成利伐沙班了, 自己停了，改吃格列美脲): only in 现病史/既往史 opened by their spoken name, the
    switch said as done (了 after the cue or the drug and its amounts, or 后来/已经/现在/停了 before it in
    the sentence) and not as today's plan or advice (今天换成, 建议改用)."""
    if d.section not in ("现病史", "既往史"):
        return None
    own = next((s for s in sections if s.start <= d.start < s.end and s.name == d.section), None)
    if own is None or not _spoken_header(own):
        return None
    m = _SWITCH_DONE_CUE.search(text, max(s_start, d.start - 8), d.start)
    if m is None:
        return None
    sub = _subclause_start(text, m.start(), s_start)
    if _PLAN_WORDS.search(text, sub, m.start()):
        return None
    end = d.end
    for p in range(min(s_end, d.end + _MAX_GAP), d.end - 1, -1):
        if _GAP.fullmatch(_mask(text, d.end, p, drugs)):
            end = p
            break
    done = m.group("le") or text[end : end + 1] == "了" or _DONE_BEFORE.search(text, s_start, m.start())
    return m.start() if done else None


def find_current_medications(
    text: str,
    entities: Sequence[Entity],
    sections: Sequence[Section],
    items: Sequence[ExtractedItem] = (),
    kb: Knowledge | None = None,
    *,
    every_mention: bool = False,
) -> list[CurrentMedication]:
    """The drugs the dictation says the patient takes now, in the order said (one per drug; with
    ``every_mention`` each mention read so). ``text`` is the (width-folded) text the entities were read
    from. A drug also prescribed in this visit is kept (the home drug is still taken when the doctor deletes
    its line): the audit case takes the drugs the final table does not prescribe
    (:meth:`OutpatientRecord.unprescribed_medications`). The mention that is itself a line of the plan is
    no history statement and is not read."""
    drugs = sorted((e for e in entities if e.label is EntityLabel.DRUG), key=lambda e: e.start)
    if not drugs:
        return []
    items_as_drugs = [
        Entity(label=EntityLabel.DRUG, start=it.start, end=it.start + 1, text="x", normalized=it.drug_id)
        for it in items
        if it.drug_id
    ]
    item_starts = {it.start for it in items}

    def key(e: Entity) -> str:
        return e.normalized or medication_name(e, kb)

    chronic_ends = frozenset(
        e.end
        for e in entities
        if e.label is EntityLabel.DISEASE
        and not e.negated
        and e.normalized
        and not _NOT_CHRONIC_ICD.match(e.normalized)
    )
    # a drug the dictation names as an allergy (阿司匹林过敏) is not read as taken
    allergic = {e.text for e in entities if e.label is EntityLabel.ALLERGEN}
    if kb is not None:
        for a in list(allergic):
            m = kb.names.resolve(a)
            if m is not None and m.kind in ("exact", "stripped") and m.drug_id:
                allergic.add(m.drug_id)
    away = {key(d) for d in _away_mentions(text, drugs, sections)}
    out: list[CurrentMedication] = []
    seen: set[str] = set()
    for d in drugs:
        k = key(d)
        name = medication_name(d, kb)
        if (k in seen and not every_mention) or k in away or d.start in item_starts:
            continue
        if k in allergic or d.text in allergic or not _known(d, kb):
            continue
        if d.text.strip() in _CLASS_WORDS and any(
            o is not d and _CLASS_WORDS[d.text.strip()] in (o.normalized or "")
            for o in [*drugs, *items_as_drugs]
        ):
            continue  # 打胰岛素…现在打来得时: the class word names the insulin said elsewhere
        if _read_current(text, d, drugs, sections, chronic_ends):
            seen.add(k)
            out.append(
                CurrentMedication(
                    name=name, drug_id=d.normalized, start=d.start, end=d.end, section=d.section
                )
            )
    return out


def _away_mentions(text: str, drugs: Sequence[Entity], sections: Sequence[Section]) -> list[Entity]:
    return [d for d in drugs if _said_away(text, d, drugs, _section_bounds(d.start, sections, len(text))[1])]


def said_away(
    text: str, entities: Sequence[Entity], sections: Sequence[Section], kb: Knowledge | None = None
) -> set[str]:
    """Names (as :func:`medication_name` writes them) and formulary ids of the drugs the text says are
    stopped, switched from, avoided or an allergy (硝苯地平暂不服用, 华法林上个月已停用)."""
    drugs = sorted((e for e in entities if e.label is EntityLabel.DRUG), key=lambda e: e.start)
    out: set[str] = set()
    for d in _away_mentions(text, drugs, sections):
        out.add(medication_name(d, kb))
        if d.normalized:
            out.add(d.normalized)
    return out


def _known(d: Entity, kb: Knowledge | None) -> bool:
    """Only drugs the formulary or the name resolver knows are read (a guessed stem is left out)."""
    if d.normalized:
        return True
    if kb is None:
        return False
    match = kb.names.resolve(d.text)
    return bool(match and match.kind in ("exact", "stripped"))


def current_medications(
    text: str,
    entities: Sequence[Entity],
    sections: Sequence[Section],
    items: Sequence[ExtractedItem] = (),
    kb: Any = None,
) -> tuple[str, ...]:
    """Names of :func:`find_current_medications`."""
    return tuple(m.name for m in find_current_medications(text, entities, sections, items, kb))


# 氨氯地平接着吃, 继续吃二甲双胍, 阿托伐他汀照旧: the plan says a drug is continued, and nothing of a line
_CONTINUED_WORD = re.compile(r"接着|继续|照旧|照常")
_CLAUSE_END = re.compile(r"[，,。；;！!？?\n]")


_DISPENSED = re.compile(r"开|带|拿|配|盒|瓶|板")


def without_continued_home_drugs(
    text: str,
    entities: Sequence[Entity],
    sections: Sequence[Section],
    items: Sequence[ExtractedItem],
    kb: Knowledge | None = None,
) -> list[ExtractedItem]:
    """``items`` without a bare continued home drug: a line said with a continue word only (氨氯地平接着吃:
    no strength, dose, frequency or days) of a drug the history says is taken now (家里一直吃氨氯地平) is that
    current medication (the audit sees it so), not a new prescription. A continued drug the history does not
    read as taken stays a line (非布司他继续吃: the audit must see it)."""
    bare = [
        it
        for it in items
        if it.drug_id and it.strength is None and it.dose is None and it.frequency is None and it.days is None
    ]
    if not bare:
        return list(items)
    current = find_current_medications(text, entities, sections, items, kb)
    home = {m.drug_id for m in current if m.drug_id}
    drop: set[int] = set()
    for it in bare:
        if it.drug_id not in home:
            continue
        end = _CLAUSE_END.search(text, it.start)
        lead = text[max(0, it.start - 4) : it.start]
        lead = _CLAUSE_END.split(lead)[-1]  # 继续吃氨氯地平, never the word of the clause before
        clause = lead + text[it.start : end.start() if end else len(text)]
        # …氨氯地平继续，开两盒 / 继续吃，再带一个月的: dispensed here too, a line (review of 2026-12-08)
        nxt = min((o.start for o in items if o.start > it.start), default=len(text))
        stop = re.search(r"[。；;\n]", text[it.start : nxt])
        rest = text[it.start : it.start + stop.start() if stop else nxt]
        if _CONTINUED_WORD.search(clause) and not _DISPENSED.search(rest):
            drop.add(id(it))
    return [it for it in items if id(it) not in drop]
