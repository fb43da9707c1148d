"""Training data for the NER tagger (``eval/ner/train.py``, ``eval/bench/bench_ner.py``): only corpora a
shipped model may learn from.

* cMedQANER train + dev (alibaba-research/ChineseBLUE, Apache-2.0): consumer health questions with
  disease / symptom / drug / body spans (other types → O). The *test* split is evaluation only.
* Sentences written here from project vocabularies: the KB formulary and ``rules/lexicon`` (this
  project's text; drug, disease and symptom lists partly from CMeKG, MIT) and the CMeKG lexicon's
  frequent symptom strings. The phrasings below are written for this module (outpatient
  dictation register, with and without punctuation, Chinese and Arabic numerals); they are not
  the gold-set dictations in ``eval/data/extract_gold.jsonl``, which is never read here.

A document is ``(text, [(start, end, label), ...])`` with end-exclusive character offsets.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from .extract import load_cmedqaner as load_cmedqaner_corpus

Doc = tuple[str, list[tuple[int, int, str]]]

CHUNK = 160
"""Training texts are cut into chunks of at most this many characters (:func:`chunk`)."""
CALIB_SOURCE = (
    "all {n} cMedQANER train chunks (the labelled real training text), one text per sample (batch 1), "
    "MinMax ranges; never dev, test, CCKS or the gold set"
)

PUNCT = re.compile(r"[，。；、,.;：:！!？?\s]")
CJK = re.compile(r"[\u4e00-\u9fff]")


def load_cmedqaner(path: Path) -> list[Doc]:
    """cMedQANER for training: mentions whose offset does not match their text dropped, overlapping
    mentions keep the first (longest at the same start)."""
    docs: list[Doc] = []
    for text, ents in load_cmedqaner_corpus(path, checked=True):
        kept: list[tuple[int, int, str]] = []
        for e in sorted(ents, key=lambda x: (x[0], -(x[1] - x[0]))):
            if not kept or e[0] >= kept[-1][1]:
                kept.append(e)
        docs.append((text, kept))
    return docs


def strip_punct(doc: Doc) -> Doc:
    """The same text without punctuation and spaces (ASR output has none); offsets remapped."""
    text, ents = doc
    keep = [i for i, ch in enumerate(text) if not PUNCT.match(ch)]
    new_pos = {old: new for new, old in enumerate(keep)}
    out_ents = []
    for s, e, lab in ents:
        inside = [new_pos[i] for i in range(s, e) if i in new_pos]
        if inside and len(inside) == e - s:
            out_ents.append((inside[0], inside[-1] + 1, lab))
    return "".join(text[i] for i in keep), out_ents


def chunk(doc: Doc, size: int = 160) -> list[Doc]:
    """Cut long documents at punctuation into pieces of at most ``size`` characters; no entity is cut."""
    text, ents = doc
    if len(text) <= size:
        return [doc]
    out: list[Doc] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = max((i + 1 for i in range(start + size // 2, end) if PUNCT.match(text[i])), default=end)
            end = cut
        for s, e, _ in ents:  # never split an entity
            if s < end < e:
                end = s if s > start else e
        out.append(
            (text[start:end], [(s - start, e - start, lab) for s, e, lab in ents if s >= start and e <= end])
        )
        start = end
    return out


# --------------------------------------------------------------------------- synthetic dictations

_CN = "零一二三四五六七八九"


def _cn_num(n: int) -> str:
    if n < 10:
        return _CN[n]
    if n < 20:
        return "十" + (_CN[n % 10] if n % 10 else "")
    if n < 100:
        return _CN[n // 10] + "十" + (_CN[n % 10] if n % 10 else "")
    return str(n)


def _num(rng: random.Random, lo: int, hi: int) -> str:
    n = rng.randint(lo, hi)
    return _cn_num(n) if rng.random() < 0.6 else str(n)


def _duration(rng: random.Random) -> str:
    return rng.choice(
        [
            f"{_num(rng, 1, 10)}天",
            f"{_num(rng, 1, 6)}周",
            f"{_num(rng, 1, 11)}个月",
            "半个月",
            "半年",
            f"{_num(rng, 1, 20)}年",
            "两天",
            "两周",
            "一个多月",
            f"{_num(rng, 2, 9)}年余",
            "数天",
            "十余天",
            "大半年",
            "好几天",
            "两三天",
        ]
    )


def _sig(rng: random.Random) -> str:
    unit = rng.choice(["毫克", "mg", "克", "g", "微克"])
    freq = rng.choice(
        [
            "一天一次",
            "每日一次",
            "一日两次",
            "每天两次",
            "一天三次",
            "每晚一次",
            "早晚各一次",
            "qd",
            "bid",
            "tid",
            "睡前一次",
            "需要时",
        ]
    )
    dose = rng.choice(["一片", "两片", "半片", "一粒", "两粒", "一袋", "一支", "两喷", "1片", "2粒"])
    route = rng.choice(["口服", "口服", "饭后服", "餐前口服", "吸入", "外用", "皮下注射", "舌下含服", ""])
    days = rng.choice(
        ["", f"共{_num(rng, 3, 30)}天", f"先用{_duration(rng)}", f"带药{_num(rng, 1, 4)}周", "连用一周"]
    )
    parts = [f"{_num(rng, 1, 500)}{unit}", dose, freq, route, days]
    rng.shuffle(parts[1:4])
    return "".join(p + rng.choice(["", " ", "，"]) for p in parts if p)


# Each template is a list of pieces; "{X}" pieces are entity slots, "<x>" pieces call a generator.
_TEMPLATES: tuple[str, ...] = (
    "患者{SYM}<dur>|加重<dur>",
    "自诉{SYM}伴{SYM}<dur>",
    "<who>因{SYM}<dur>来诊",
    "<who>主要是{SYM}，有时候还{SYM}",
    "最近<dur>老是{SYM}，晚上更明显",
    "{BODY}{SYM}<dur>，休息后能缓解",
    "{BODY}疼了<dur>，按压时{SYM}",
    "否认{SYM}{SYM}，无{SYM}",
    "没有{SYM}也没有{SYM}",
    "不伴{SYM}，无{SYM}及{SYM}",
    "既往有{DIS}病史<dur>，平时吃{DRUG}",
    "有{DIS}<dur>了，一直在用{DRUG}控制",
    "{DIS}多年，长期服用{DRUG}和{DRUG}",
    "既往{DIS}、{DIS}，否认{DIS}",
    "家族中母亲有{DIS}",
    "对{DRUG}过敏，吃了起皮疹",
    "以前用过{DRUG}效果不好就停了",
    "查体{BODY}压痛，{BODY}未见异常",
    "查体神志清楚{BODY}无红肿，{BODY}听诊清",
    "{BODY}可见{SYM}，{BODY}无{SYM}",
    "考虑{DIS}",
    "初步诊断{DIS}，{DIS}待排",
    "诊断是{DIS}合并{DIS}",
    "印象{DIS}，建议复查",
    "给予{DRUG}<sig>",
    "开{DRUG}<sig>，{DRUG}<sig>",
    "处理：{DRUG}<sig>",
    "继续吃{DRUG}<sig>，加用{DRUG}<sig>",
    "把{DRUG}停掉，换成{DRUG}<sig>",
    "{DRUG}<sig>，注意监测血压",
    "这次来是想开点{DRUG}，最近{SYM}",
    "吃了{DRUG}以后出现{SYM}",
    "用{DRUG}后{SYM}好转，但仍有{SYM}",
    "{DIS}引起的{SYM}，需要调整{DRUG}剂量",
    "孩子{SYM}<dur>，{BODY}有{SYM}",
    "老人{SYM}、{SYM}<dur>，既往{DIS}",
    "请问{DIS}能吃{DRUG}吗",
    "{SYM}是不是{DIS}，要不要吃{DRUG}",
    "{BODY}{SYM}去医院查了说是{DIS}",
)


class Vocabulary:
    """Entity names to fill the slots, by label."""

    def __init__(self, names: dict[str, list[str]]):
        self.names = {k: sorted(set(v)) for k, v in names.items()}

    @classmethod
    def from_sources(cls, patterns: list[dict[str, str]], cmekg_path: Path | None) -> Vocabulary:
        """Collect names from spaCy-style ``patterns`` ({label, pattern}) and frequent CMeKG symptoms.

        Only CJK patterns of 2–14 characters are kept; ``cmekg_path`` None or missing adds no symptoms.
        """
        names: dict[str, list[str]] = {"drug": [], "disease": [], "symptom": [], "body_part": []}
        for p in patterns:
            lab, pat = p["label"], p["pattern"]
            if lab in names and isinstance(pat, str) and CJK.search(pat) and 1 < len(pat) <= 14:
                names[lab].append(pat)
        if cmekg_path is not None and cmekg_path.is_file():
            lex = json.loads(cmekg_path.read_text(encoding="utf-8"))
            names["symptom"] += [
                s
                for s, n in lex.get("symptoms", {}).items()
                if n >= 20
                and 2 <= len(s) <= 6
                and not PUNCT.search(s)
                and CJK.match(s)
                and s not in set(names["disease"])
            ]
        return cls(names)

    def pick(self, rng: random.Random, label: str) -> str:
        """A random name of ``label`` (drug, disease, symptom, body_part) drawn with ``rng``."""
        return rng.choice(self.names[label])


_WHO = (
    "患者男性五十八岁",
    "女，72岁",
    "患儿",
    "老年男性",
    "病人",
    "这位阿姨",
    "患者女性，四十五岁",
    "男65岁",
    "",
)
_SLOT = re.compile(r"\{(SYM|DIS|DRUG|BODY)\}|<(dur|sig|who)>")
_SLOT_LABEL = {"SYM": "symptom", "DIS": "disease", "DRUG": "drug", "BODY": "body_part"}


def synthesise(n: int, vocab: Vocabulary, seed: int = 13) -> list[Doc]:
    """``n`` synthetic dictation snippets of 1–4 clauses, punctuation kept or stripped at random."""
    rng = random.Random(seed)
    docs: list[Doc] = []
    for _ in range(n):
        text = ""
        ents: list[tuple[int, int, str]] = []
        for k in range(rng.randint(1, 4)):
            tpl = rng.choice(_TEMPLATES).replace("|", "")
            if k:
                text += rng.choice(["，", "。", "", " "])
            pos = 0
            for m in _SLOT.finditer(tpl):
                text += tpl[pos : m.start()]
                if m.group(1):
                    name = vocab.pick(rng, _SLOT_LABEL[m.group(1)])
                    ents.append((len(text), len(text) + len(name), _SLOT_LABEL[m.group(1)]))
                    text += name
                else:
                    text += {"dur": _duration, "sig": _sig, "who": lambda r: r.choice(_WHO)}[m.group(2)](rng)
                pos = m.end()
            text += tpl[pos:]
        doc: Doc = (text, ents)
        if rng.random() < 0.5:
            doc = strip_punct(doc)
        docs.append(doc)
    return docs


def check(docs: list[Doc]) -> None:
    """Internal invariant: spans inside the text, non-overlapping, non-empty."""
    for text, ents in docs:
        last = 0
        for s, e, _ in sorted(ents):
            assert 0 <= s < e <= len(text) and s >= last, (s, e, len(text))
            last = e


def calibration_docs(train_qa: list[Doc]) -> dict[str, object]:
    """Calibration texts for static int8: every cMedQANER train chunk (deterministic, training data only)."""
    texts = [t for t, _ in train_qa if t.strip()]
    return {"texts": texts, "source": CALIB_SOURCE.format(n=len(texts))}
