"""在用药品 lists as HIS and FHIR write them: one cell or text split into one entry per drug, and the drug
name (and a local route) of one entry. Used by ``Patient.current_medications`` (toolkit.records), the FHIR
reader and the audit's resolver; of the package it needs only :mod:`toolkit.units` (and, to keep a combination
product written ``A/B`` whole, the names of the shipped formulary's combination products, read from its files)."""

from __future__ import annotations

import functools
import re
from typing import Any

# --------------------------------------------------------------------------- 在用药品 lists as HIS and FHIR write them
# One cell / text may hold several drugs ("华法林3mg qd；二甲双胍0.5g tid", "华法林 阿司匹林", "A|B", lines),
# each with its dose, frequency, route or a stop mark. The list is split into one entry per drug (its
# sig kept with it for the pharmacist; :func:`current_medication_name` strips it before resolving),
# entries marked stopped and placeholders (暂无, 不详 …) are dropped, repeats removed.
_CM_SEPARATORS = r"[;；,，、|｜\n\r\t]+|(?<!\d)[/／](?![\d日天次周晚早餐dDhH])"
_CM_OPEN, _CM_CLOSE = "(（[【", ")）]】"
_CM_UNITS = (
    r"mg|g|μg|ug|mcg|µg|ng|ml|mL|l|iu|IU|u|U|单位|万单位|万U|毫克|克|微克|毫升|片|粒|袋|支|丸|滴|喷|揿|吸|贴|包|枚|"
    r"瓶|盒|板|针|mmol|%"
)
# a token that is a dose / strength / count: digits with units and sig letters only (2.5mg, 1片, 0.5g*2片, 1#)
_CM_DOSE_TOKEN = re.compile(
    rf"^[x×X*＊]?\d[\d.]*\s*(?:{_CM_UNITS})?(?:[*×xX/#＊]\s*(?:\d[\d.]*)?\s*(?:{_CM_UNITS}|次|日|天|周|d)?)*$",
    re.I,
)
_CM_LONG = 200  # an entry longer than any drug name (names.MAX_NAME_CHARS) is kept whole, not parsed
_CM_UNIT_TOKEN = re.compile(rf"^(?:{_CM_UNITS}|次|日|天)$", re.I)
# a token that only names the form of the drug before it (阿司匹林 肠溶片)
_CM_FORM_TOKEN = re.compile(
    r"^(?:肠溶|缓释|控释|分散|泡腾|咀嚼|口崩|口腔崩解|薄膜衣|糖衣|软|硬)?"
    r"(?:片|片剂|胶囊|胶囊剂|颗粒|颗粒剂|丸|滴丸|注射液|注射剂|针|口服液|口服溶液|溶液|糖浆|软膏|乳膏|凝胶|"
    r"滴眼液|眼膏|滴耳液|滴鼻液|贴剂|贴|栓|栓剂|气雾剂|喷雾剂|吸入剂|粉雾剂|混悬液|干混悬剂|散|合剂)$"
)
# a stop mark on an entry: 华法林（已停）, 已停用, 停用, 暂停, (停); not a bare 停 (遗尿停胶囊, 虚汗停颗粒)
_CM_STOPPED = re.compile(r"已停|停用|暂停|停药|停服|停止|[(（]\s*停\s*[)）]|(?:^|\s)停(?:了|掉了?)?\s*$")
# how it is taken, as needed or irregularly (泮托拉唑 偶服, 奥美拉唑 必要时服): stays with the drug
_CM_AS_NEEDED = re.compile(
    r"^(?:偶服|偶用|偶尔(?:服用?|吃)?|必要时(?:服用?|吃)?|按需(?:服用?)?|不规律(?:服用?)?|间断(?:服用?)?)$"
)
# a stop word written alone after the drug, as its own token or item (泮托拉唑 停, 泮托拉唑，停了)
_CM_BARE_STOP = re.compile(r"^\s*(?:已?停(?:了|掉了?)?|停掉了?)\s*$")
# …but said to go on (华法林（停用阿司匹林后继续服用）, 暂停服用3天后恢复, 未停, 不能停): still taken
_CM_GOES_ON = re.compile(r"继续|恢复|仍在|仍用|在用|未停|没停|不能停|不可停|勿停")
# a placeholder, not a drug: 无, 暂无, 否认, 不详, 无特殊, 未服用药物, 否认长期用药史, none
_CM_PLACEHOLDER = re.compile(
    r"^(?:(?:否认|暂无|无|未|没有)(?:长期|规律|特殊|其他|其它|任何|服用|使用|口服|用)*"
    r"(?:用药|服药|药物|药品|在用药品|用药史|服药史|药)?(?:史|情况)?|不详|不祥|不清|不清楚|未知|未提供|"
    r"无特殊|none|nil|no|n/?a|null|-+|—+|/|\?|？)$",
    re.I,
)
_CM_FREQ_WORDS = re.compile(
    r"^(?:q\d*h|qd|bid|tid|qid|qn|qod|qw|biw|tiw|prn|st|po|hs|ac|pc|每[日天晚早]|睡前|必要时|餐前|餐后|饭前|饭后|"
    r"空腹|早晚|长期|规律|按时)$",
    re.I,
)


def _cm_tokens(text: str) -> list[str]:
    """Whitespace-separated tokens of one entry, a bracket's content (with its spaces) kept whole."""
    out, cur, depth = [], "", 0
    for ch in text:
        if ch in _CM_OPEN:
            depth += 1
        elif ch in _CM_CLOSE and depth:
            depth -= 1
        if ch.isspace() and not depth:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def _cm_sig(token: str) -> bool:
    """A token that belongs to the drug before it: dose, unit, frequency, route, form word, note, stop mark."""
    from toolkit.units import normalize_route, parse_frequency

    t = token.strip()
    if not t or t[0] in _CM_OPEN or _CM_STOPPED.search(t) or _CM_GOES_ON.match(t):
        return True
    if any(
        p.match(t) for p in (_CM_DOSE_TOKEN, _CM_UNIT_TOKEN, _CM_FORM_TOKEN, _CM_FREQ_WORDS, _CM_AS_NEEDED)
    ):
        return True
    if normalize_route(t) is not None or t in _CM_LOCAL_ROUTE_WORDS:
        return True
    return parse_frequency(t) is not None and not _has_cjk_name(t)


_CM_LOCAL_ROUTE_WORDS = frozenset(
    {
        "眼用",
        "经眼",
        "耳用",
        "鼻用",
        "经鼻",
        "阴道",
        "阴道用",
        "经皮",
        "皮肤",
        "局部",
        "局部用",
        "涂抹",
        "涂患处",
    }
)


def _has_cjk_name(token: str) -> bool:
    """True when the token has CJK characters other than sig words (每日一次 has none; 华法林 has)."""
    rest = re.sub(r"[每日天次晚早中一二两三四五六七八九十半片粒袋支]", "", token)
    return bool(re.search(r"[\u4e00-\u9fff]", rest))


def _ascii_word(token: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z\-'.]*", token))


# --------------------------------------------------------------------------- combination products
# HIS and FHIR write a combination product with a slash between its ingredients (氨氯地平/贝那普利 1片 qd,
# 缬沙坦/氢氯噻嗪, 布地奈德/福莫特罗, Amlodipine/Benazepril) or a space (氨氯地平 贝那普利): one drug, not
# two. ``A/B`` is kept whole when it names a combination product of the shipped formulary (rules/formulary:
# an entry with ingredients), by one of its names (氨氯地平贝那普利, 贝那普利氨氯地平, 沙美特罗替卡松,
# amlodipine/benazepril) or by its two ingredients in either order (二甲双胍/西格列汀); otherwise it is
# split as before (华法林/阿司匹林 are two drugs). This module sits below the knowledge package, so it reads
# those entries' names from the formulary files itself (once, on the first slash between two names).
_CM_JOINED = {"/": "\x00", "／": "\x01"}  # stand for a kept slash while the list is split
# name/name (the second name looked ahead at, so 华法林/阿司匹林/氯吡格雷 is read pair by pair)
_CM_COMBO_SLASH = re.compile(
    r"([^\s;；,，、|｜/／\x00\x01]*[A-Za-z\u4e00-\u9fff])[/／](?=([A-Za-z\u4e00-\u9fff][^\s;；,，、|｜/／\x00\x01]*))"
)
_CM_RUNS = re.compile(r"([\s;；,，、|｜]+)")  # the separators _CM_COMBO_SLASH's names never cross (kept)
_CM_FORM_SUFFIX = re.compile(
    r"(?:肠溶|缓释|控释|分散|泡腾|咀嚼|口崩|薄膜衣|软|硬|吸入|干粉|粉)?"
    r"(?:片|胶囊|颗粒|注射液|吸入剂|粉雾剂|吸入粉雾剂|气雾剂|吸入气雾剂|粉吸入剂|干粉吸入剂|混悬液|"
    r"吸入用混悬液|溶液|口服液)$"
)
_CM_BRACKETED = re.compile(r"[(（\[【][^()（）\[\]【】]*[)）\]】]")


def _cm_key(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("（", "(").replace("）", ")")).lower()


def _cm_bare(token: str) -> tuple[str, str]:
    """(name key, form word) of one side of ``A/B``: brackets, a dose and a form word taken off
    (贝那普利片 → 贝那普利, 片; 氢氯噻嗪12.5mg → 氢氯噻嗪)."""
    t = _CM_BRACKETED.sub("", token)
    tail = _CM_DOSE_TAIL.search(t)
    if tail is not None and tail.start() > 0:
        t = t[: tail.start()]
    t = _cm_key(t)
    form = _CM_FORM_SUFFIX.search(t)
    if form is not None and form.start() >= 2:
        return t[: form.start()], form.group(0)
    return t, ""


def _formulary_entries() -> list[dict[str, Any]]:
    from importlib import resources

    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    root = resources.files("toolkit") / "rules" / "formulary"
    out: list[dict[str, Any]] = []
    for path in sorted((p for p in root.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
        out.extend(d for d in data.get("drugs") or () if isinstance(d, dict) and d.get("id"))
    return out


@functools.cache
def _combinations() -> tuple[dict[str, str], dict[str, frozenset[str]], dict[frozenset[str], str | None]]:
    """(a combination product's spellings → its formulary name, a drug's spellings → drug ids, the pair
    of ingredient ids of a two-ingredient product → its formulary name, ``None`` when two products share
    the pair). Only products of exactly two ingredients named by two parts (``en`` a/b) are found by
    their ingredients: a 复方 whose entry lists only some of its ingredients is never one of them."""
    spellings: dict[str, str] = {}
    names: dict[str, set[str]] = {}
    pairs: dict[frozenset[str], str | None] = {}
    for d in _formulary_entries():
        words = [d.get("name"), d.get("en"), *(d.get("aliases") or ()), *(d.get("salts") or ())]
        keys = {_cm_key(w) for w in words if isinstance(w, str) and w.strip()}
        for k in keys:
            names.setdefault(k, set()).add(d["id"])
        ingredients = [i.get("drug") for i in d.get("ingredients") or () if isinstance(i, dict)]
        if len(ingredients) < 2 or not isinstance(d.get("name"), str):
            continue
        for k in keys:
            spellings.setdefault(k, d["name"])
            bare = _cm_bare(k)[0]
            spellings.setdefault(bare, d["name"])
        en = d.get("en") if isinstance(d.get("en"), str) else ""
        if len(ingredients) == 2 and len(en.split("/")) == 2 and "(" not in en:
            pair = frozenset(ingredients)
            pairs[pair] = d["name"] if pair not in pairs else None
    return spellings, {k: frozenset(v) for k, v in names.items()}, pairs


def combination_name(a: str, b: str) -> str | None:
    """The formulary name of the combination product ``a/b`` (or ``a b``) names, with the form word
    written after it (氨氯地平, 贝那普利片 → 氨氯地平贝那普利片), or ``None`` when ``a`` and ``b`` are not
    one product of the shipped formulary (华法林, 阿司匹林)."""
    if not (_has_name(a) and _has_name(b)):
        return None
    (ka, _), (kb, form) = _cm_bare(a), _cm_bare(b)
    if not ka or not kb:
        return None
    spellings, names, pairs = _combinations()
    found = next((spellings[k] for k in (f"{ka}/{kb}", ka + kb, kb + ka) if k in spellings), None)
    if found is None:
        hits = {
            pairs.get(frozenset((x, y)))
            for x in names.get(ka, ())
            for y in names.get(kb, ())
            if frozenset((x, y)) in pairs
        }
        found = next(iter(hits)) if len(hits) == 1 else None
    return None if found is None else found + form


def _has_name(token: str) -> bool:
    """A drug name (letters or CJK), not a dose, count or frequency token."""
    return bool(re.search(r"[A-Za-z\u4e00-\u9fff]", token)) and not _cm_sig(token)


def _keep_combination(m: re.Match[str]) -> str:
    """``a/`` of ``a/b`` kept (the slash replaced by :data:`_CM_JOINED`) when ``a/b`` is one product; a run
    of three or more names by slashes (华法林/阿司匹林/氯吡格雷) is a list, never joined."""
    a, b = m.group(1), m.group(2)
    before, after = m.string[: m.start()], m.string[m.end() + len(b) :]
    listed_before = re.search(r"[A-Za-z\u4e00-\u9fff][/／\x00\x01]$", before)
    if listed_before or re.match(r"[/／][A-Za-z\u4e00-\u9fff]", after):
        return m.group(0)
    return a + _CM_JOINED[m.group(0)[-1]] if combination_name(a, b) is not None else m.group(0)


def split_current_medications(value: str) -> tuple[str, ...]:
    """One 在用药品 text (a HIS cell, a FHIR name) as one entry per drug, as written with its sig.

    Split on ``;；,，、|`` and line breaks, ``/`` not between digits (160/4.5 μg stays), and on whitespace
    between two drug names (``华法林 阿司匹林``); a token after a name that is its dose, unit, frequency,
    route, form word (``阿司匹林 肠溶片``), bracket note or stop mark stays with it
    (``华法林钠片 2.5mg 1片 qd`` is one entry), as do English words after English words. Entries marked
    stopped (``华法林（已停）``, ``停用``, ``暂停``, ``(停)``) and placeholders (``无``, ``暂无``, ``不详``,
    ``无特殊``, ``未服用药物``, ``否认``, ``none``) are dropped. Idempotent: an entry splits into itself."""
    out: list[str] = []
    if ("/" in value or "／" in value) and "\x00" not in value and "\x01" not in value:
        # 氨氯地平/贝那普利: one product. Run by run between separators, and only runs a name pair can be
        # (the pattern backtracks over a run: over a 150,000-character one it took minutes)
        value = "".join(
            _CM_COMBO_SLASH.sub(_keep_combination, run)
            if len(run) <= 2 * _CM_LONG and ("/" in run or "／" in run)
            else run
            for run in _CM_RUNS.split(value)
        )
    for part in re.split(_CM_SEPARATORS, value):
        part = part.replace("\x00", "/").replace("\x01", "／")
        if out and _CM_BARE_STOP.match(part):  # 泮托拉唑，停: the stop belongs to the drug before
            out[-1] += " 停"
            continue
        if len(part) > _CM_LONG:  # no drug name is this long: kept whole (RX-REC-005), never parsed
            out.append(part.strip())
            continue
        entry: list[str] = []
        for tok in _cm_tokens(part):
            if entry and (
                _cm_sig(tok)
                or (_ascii_word(tok) and _ascii_word(entry[-1]))
                or (len(entry) == 1 and combination_name(entry[0], tok) is not None)  # 氨氯地平 贝那普利
            ):
                entry.append(tok)
                continue
            if entry:
                out.append(" ".join(entry))
            entry = [tok]
        if entry:
            out.append(" ".join(entry))
    kept = ((e, e.strip(" .。")) for e in out)
    return tuple(
        e
        for e, bare in kept
        if bare
        and not (_CM_STOPPED.search(e) and not _CM_GOES_ON.search(e))
        and not _CM_PLACEHOLDER.match(bare)
    )


def current_medication_list(value: Any) -> tuple[str, ...]:
    """``patient.current_medications`` from a text or a list: split (:func:`split_current_medications`),
    stopped entries and placeholders dropped, each drug once (first spelling kept, order kept)."""
    parts = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for p in parts:
        if not isinstance(p, str):
            out.append(p)  # left for the field's type check to reject
            continue
        for e in split_current_medications(p):
            if e not in out:
                out.append(e)
    return tuple(out)


_CM_DOSE_TAIL = re.compile(rf"\s*\d+(?:\.\d+)?\s*(?:{_CM_UNITS})(?![A-Za-z])[^()（）]*$", re.I)
_CM_DOSE_IN_NOTE = re.compile(rf"\s*\d+(?:\.\d+)?\s*(?:{_CM_UNITS})(?![A-Za-z])(?=\s*[)）])", re.I)
_CM_FREQ_TAIL = re.compile(r"(?<=[\u4e00-\u9fff）)])\s*(?:q\d*h|qd|bid|tid|qid|qn|qod|qw|prn|po)$", re.I)
_CM_ROUTE_AFFIXES = (  # longest first
    "局部外用",
    "皮下注射",
    "阴道给药",
    "直肠给药",
    "舌下含服",
    "外用",
    "口服",
    "滴眼",
    "滴耳",
    "滴鼻",
    "鼻喷",
    "吸入",
)
_CM_ROUTE_NOTE = re.compile(r"[(（]\s*([^()（）]+?)\s*[)）]")


def current_medication_name(entry: str) -> tuple[str, str | None]:
    """(drug name, route word) of one 在用药品 entry: its dose, frequency and count tokens stripped
    (``华法林钠片 2.5mg 1片 qd`` → 华法林钠片, ``华法林3mg`` → 华法林), a route said with it kept apart
    (``红霉素 外用``, ``红霉素（外用）``, ``外用红霉素`` → (红霉素, 外用)). Form words stay in the name
    (``阿司匹林 肠溶片`` → 阿司匹林肠溶片, ``红霉素软膏``), as do a brand in brackets (``(拜新同)``)."""
    from toolkit.units import normalize_route

    def is_route(t: str) -> bool:
        return normalize_route(t) is not None or t in _CM_LOCAL_ROUTE_WORDS

    if len(entry) > _CM_LONG:
        return entry, None
    route: str | None = None
    kept: list[str] = []
    for n, tok in enumerate(_cm_tokens(entry)):
        if n and is_route(tok):
            route = route or tok
            continue
        if n and _cm_sig(tok) and not _CM_FORM_TOKEN.match(tok) and tok[0] not in _CM_OPEN:
            continue
        kept.append(tok)
    name = " ".join(kept)
    for m in list(_CM_ROUTE_NOTE.finditer(name)):  # 红霉素（外用）
        if is_route(m.group(1)):
            route = route or m.group(1)
            name = name.replace(m.group(0), "")
    name = _CM_DOSE_IN_NOTE.sub("", name)  # (拜新同 30mg) → (拜新同)
    tail = _CM_DOSE_TAIL.search(name)
    if tail is not None and tail.start() > 0:  # 华法林3mg → 华法林; not 0.9%氯化钠注射液
        name = name[: tail.start()]
    name = name.strip()
    name = _CM_FREQ_TAIL.sub("", name).strip()
    for w in _CM_ROUTE_AFFIXES:  # 红霉素外用, 外用红霉素
        if name.endswith(w) and len(name) > len(w):
            route, name = route or w, name[: -len(w)].strip()
            break
        if name.startswith(w) and len(name) > len(w) and w in ("外用", "局部外用"):
            route, name = route or w, name[len(w) :].strip()
            break
    if re.fullmatch(r"[\u4e00-\u9fff（）()\s]+", name) and " " in name:
        name = name.replace(" ", "")  # 阿司匹林 肠溶片
    combo = _CM_COMBO_SLASH.match(name)
    if combo is not None and combo.end() + len(combo.group(2)) == len(name):
        # 氨氯地平/贝那普利 → 氨氯地平贝那普利, the name the formulary knows
        name = combination_name(combo.group(1), combo.group(2)) or name
    return (name or entry.strip()), route
