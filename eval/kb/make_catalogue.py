"""Build a realistic HIS drug catalogue (药品目录) for testing ``clinic formulary map``.

Rows come from the 2024 reimbursement list's generics in the classes a community clinic stocks, written the
way HIS catalogues write them: salt and dosage form in the 通用名 (苯磺酸氨氯地平片), strength and pack in
规格 (5mg*28片) or inside the name (阿莫西林胶囊0.25g), brand-only rows with an empty 通用名, local
products (滴眼液, 凝胶), full-width brackets, and the file saved in GBK as many HIS exports are.

    python eval/kb/make_catalogue.py -o eval/data/catalogue_sample.csv [--rows 400] [--seed 7]
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from toolkit.knowledge.known import name_variants
from toolkit.knowledge.loader import default_rules_dir, load_knowledge

COMMUNITY = (
    "XA02",
    "XA03",
    "XA10",
    "XA11",
    "XA12",
    "XB01",
    "XB03",
    "XC",
    "XG04",
    "XH03",
    "XJ01",
    "XJ02",
    "XJ05",
    "XM01",
    "XM04",
    "XM05",
    "XN02",
    "XN03",
    "XN05",
    "XN06",
    "XR03",
    "XR05",
    "XR06",
    "XS01",
    "XD",
)
FORM = {
    "口服常释剂型": ["片", "胶囊", "分散片", "肠溶片"],
    "缓释控释剂型": ["缓释片", "控释片"],
    "颗粒剂": ["颗粒"],
    "口服液体剂": ["口服溶液"],
    "注射剂": ["注射液"],
    "吸入剂": ["吸入气雾剂", "吸入粉雾剂"],
    "滴眼剂": ["滴眼液"],
    "软膏剂": ["软膏"],
    "凝胶剂": ["凝胶"],
    "乳膏剂": ["乳膏"],
    "贴剂": ["贴剂"],
    "栓剂": ["栓"],
}
MAKERS = (
    "华润双鹤",
    "石药集团",
    "扬子江药业",
    "齐鲁制药",
    "辉瑞制药",
    "阿斯利康",
    "拜耳医药",
    "诺和诺德",
    "国药集团",
    "上海信谊",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--encoding", default="gb18030", help="GBK-compatible; gb18030 also holds 䓬")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    kb = load_knowledge()
    src = default_rules_dir() / "lexicon" / "nrdl2024_western.csv"
    with open(src, encoding="utf-8-sig", newline="") as fh:
        listed = [
            r for r in csv.DictReader(fh) if r["class_code"].startswith(COMMUNITY) and r["form"] in FORM
        ]
    rng.shuffle(listed)
    rows: list[list[str]] = []
    seen: set[str] = set()
    for r in listed:
        if len(rows) >= args.rows * 0.8:
            break
        name = name_variants(r["name"])[0]
        form = rng.choice(FORM[r["form"]])
        if (name, form) in seen:
            continue
        seen.add((name, form))
        m = kb.names.resolve(name)
        drug = kb.drugs[m.drug_id] if m else None
        salt = drug.salts[0] if drug and drug.salts and rng.random() < 0.5 else name
        strength = ""
        if drug and drug.forms and drug.forms[0].strengths:
            strength = (
                drug.forms[0].strengths[0].replace(" ", "")
                + f"*{rng.choice((7, 14, 24, 28, 30))}"
                + (drug.forms[0].unit)
            )
        generic = salt + form
        if strength and rng.random() < 0.15:  # strength written inside the name, 规格 left empty
            generic, strength = generic + strength.split("*")[0], ""
        if rng.random() < 0.1:
            generic = generic.replace("(", "（").replace(")", "）")
        rows.append([generic, "", strength, form, rng.choice(MAKERS), drug.forms[0].unit if drug else "盒"])
    brands = [(d, b) for d in kb.drugs.values() for b in d.brands]
    rng.shuffle(brands)
    for d, b in brands[: args.rows - len(rows)]:  # brand-only rows: 通用名 left empty
        strength = d.forms[0].strengths[0].replace(" ", "") if d.forms and d.forms[0].strengths else ""
        rows.append(["", b, strength, d.forms[0].form, rng.choice(MAKERS), d.forms[0].unit])
    rng.shuffle(rows)
    with open(args.output, "w", encoding=args.encoding, errors="replace", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["药品编码", "通用名", "商品名", "规格", "剂型", "生产厂家", "单位"])
        for i, row in enumerate(rows, start=1):
            w.writerow([f"Y{i:05d}", *row])
    print(f"{len(rows)} rows → {args.output} ({args.encoding})")


if __name__ == "__main__":
    main()
