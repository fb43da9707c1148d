"""Derive the generated parts of ``rules/lexicon/drugs_extra.yaml`` from the CMeKG lexicon (MIT).

Part ``stems`` of drugs_extra.yaml: the generic name inside CMeKG western-drug product names, so that
the bare name said in a note (顺铂, 伊立替康, 吉西他滨) is recognised and not only the product
(注射用顺铂, 盐酸伊立替康注射液). Deterministic: same input, same output (sorted). Rules:

* products whose CMeKG 分类 is empty, 中成药, or a Chinese-medicine class (益气, 活血, 清热 ...) are skipped;
* names with brackets, punctuation or spaces are skipped;
* strip, up to three times: a leading 注射用, a trailing dosage form (toolkit.knowledge.names.DOSAGE_FORMS
  and 氯化钠/葡萄糖/甘露醇注射液), a leading salt word (盐酸, 硫酸 ...) when 3+ characters remain;
  trailing cation words (钠, 钙 ...) are kept (the extractor extends a name over them);
* keep stems of 3-12 characters, or 2 characters ending in 铂/啡/碱/喹 (顺铂, 吗啡, 茶碱, 氯喹); drop stems
  ending in an incomplete chemical word (…化, …代, …酸 of fewer than 3 characters) or a route word;
* drop stems that are disease, symptom or body-part names of the other lexicon files, or already
  in the hand/derived parts.

Usage (from the repository root)::

    python eval/ner/derive_lexicon.py --cmekg ../shared/data/ner/lexicon/cmekg_lexicon.json --write
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

from toolkit.evaluation.data import SHARED_DATA, repository_root
from toolkit.knowledge.names import DOSAGE_FORMS

LEX = repository_root() / "rules" / "lexicon"
_TCM = re.compile(
    r"中成药|益气|活血|清热|补|祛|化痰|安神|利咽|通络|解表|理气|温|滋|养|润|散寒|化瘀|止血剂|固涩|开窍|"
    r"消导|驱虫剂|调经|消食|和解|泻下|利湿|熄风|平肝|清化|保健品"
)
_LEAD_SALTS = (
    "苯磺酸",
    "马来酸",
    "甲磺酸",
    "盐酸",
    "硫酸氢",
    "硫酸",
    "酒石酸",
    "琥珀酸",
    "富马酸",
    "磷酸",
    "枸橼酸",
    "乳酸",
    "重酒石酸",
    "醋酸",
    "二盐酸",
)
_SOLVENT_FORMS = re.compile(r"(?:氯化钠|葡萄糖|甘露醇)注射液$")
_ROUTE_END = re.compile(
    r"(?:阴道|眼|鼻|耳|口腔|外用|滴|胶|软|口服|阴道用|吸入用|注射|肠溶|缓释|控释|分散|咀嚼|泡腾)$"
)
_BAD_END = re.compile(r"(?:化|代|合|复方|二|三)$")
_TWO_OK = set("铂啡碱喹")
_FORMS = tuple(sorted(DOSAGE_FORMS, key=len, reverse=True))


def stem_of(name: str) -> str:
    s = name
    for _ in range(3):
        before = s
        if s.startswith("注射用"):
            s = s[3:]
        s = _SOLVENT_FORMS.sub("", s)
        for form in _FORMS:
            if s.endswith(form) and len(s) > len(form) + 1:
                s = s[: -len(form)]
                break
        for salt in sorted(_LEAD_SALTS, key=len, reverse=True):
            if s.startswith(salt) and len(s) - len(salt) >= 3:
                s = s[len(salt) :]
                break
        if s == before:
            break
    return s


def derive_stems(cmekg_json: Path, exclude: set[str]) -> list[str]:
    drugs = json.loads(cmekg_json.read_text(encoding="utf-8"))["drugs"]
    out: set[str] = set()
    for name, info in drugs.items():
        classes = info.get("分类", [])
        if not classes or any(_TCM.search(c) for c in classes):
            continue
        if re.search(r"[（(）)\[\]［］【】，,、；;：:\s/—]", name):
            continue
        s = stem_of(name)
        if s == name or s in exclude:
            continue
        if len(s) == 2 and s[-1] not in _TWO_OK:
            continue
        if not 2 <= len(s) <= 12 or _ROUTE_END.search(s) or _BAD_END.search(s):
            continue
        if s.endswith("酸") and len(s) < 3:
            continue
        out.add(s)
    return sorted(out)


def _exclude() -> set[str]:
    dx = yaml.safe_load((LEX / "diagnoses.yaml").read_text(encoding="utf-8"))
    sy = yaml.safe_load((LEX / "symptoms.yaml").read_text(encoding="utf-8"))
    bp = yaml.safe_load((LEX / "body_parts.yaml").read_text(encoding="utf-8"))
    de = yaml.safe_load((LEX / "drugs_extra.yaml").read_text(encoding="utf-8"))
    names = {n for part in ("diagnoses", "derived") for e in dx.get(part) or () for n in e["names"]}
    names |= {s for group in sy["symptoms"].values() for s in group}
    names |= set(bp["body_parts"])
    names |= set(de.get("hand") or ()) | set(de.get("oncology") or ()) | set(de.get("derived") or ())
    return names


def write_stems(stems: list[str]) -> None:
    path = LEX / "drugs_extra.yaml"
    text = path.read_text(encoding="utf-8")
    text = re.split(r"(?m)^stems:", text)[0].rstrip("\n") + "\n"
    text += "stems:\n" + "".join(f"  - {json.dumps(s, ensure_ascii=False)}\n" for s in stems)
    path.write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cmekg", type=Path, default=SHARED_DATA / "ner/lexicon/cmekg_lexicon.json")
    ap.add_argument("--write", action="store_true", help="rewrite the stems part of drugs_extra.yaml")
    args = ap.parse_args()
    stems = derive_stems(args.cmekg, _exclude())
    if args.write:
        write_stems(stems)
    print(f"{len(stems)} stems", file=sys.stderr)
    if not args.write:
        print("\n".join(stems))


if __name__ == "__main__":
    main()
