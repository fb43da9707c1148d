"""Coverage of the knowledge base against the generic names of the 2024 national reimbursement list.

For every NRDL-2024 西药 name in the chosen classes (ATC-like ``class_code`` prefixes), resolve the
name with the shipped resolver (``load_knowledge().names.resolve``) and classify it:

- **own**: resolved to an entry whose generic name, salt name or declared alias is that name
  (after removing the list's product numbers Ⅰ/Ⅱ, dosage-form words and salt words), or, for
  names listed with an alternative in brackets (坦洛新(坦索罗辛)), to one of the alternatives;
- **wrong**: resolved to an entry that does not carry the name (another drug);
- **unresolved**: the resolver returned nothing.

Rows that the PDF extraction split over two lines (same section and number, unbalanced bracket
or a continuation starting with a bracket) are joined first; a name listed twice in a class (other
dosage forms, ★ cross-references) counts once per class.

Usage:
    python eval/kb/coverage.py [CSV] [--prefix XA10 --prefix XC ...] [--list] [--rules DIR]

CSV defaults to ``../shared/reference/nrdl2024_western.csv`` relative to the working directory (run from
the repository root, like the ``--shared`` options; :mod:`toolkit.evaluation.data`); when it is absent the
script says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from pathlib import Path

from toolkit.evaluation.data import SHARED_DATA

DEFAULT_CSV = SHARED_DATA.parent / "reference" / "nrdl2024_western.csv"
# issue 18 §1, full-entry classes (chronic disease)
DEFAULT_PREFIXES = ("XA10", "XC", "XB01", "XR03", "XH03", "XG04", "XM04", "XM05")

_ROMAN = re.compile(r"[(（]?[ⅠⅡⅢⅣⅤⅥⅰⅱⅲⅳⅴⅵ][)）]?")
_BRACKETS = {"(": ")", "[": "]"}


def _balanced(text: str) -> bool:
    return all(text.count(o) == text.count(c) for o, c in _BRACKETS.items())


def read_names(path: Path, prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    """class_code → unique names (in list order), with line-wrapped rows joined."""
    rows = list(csv.DictReader(path.open(encoding="utf-8-sig")))
    for r in rows:
        r["name"] = r["name"].replace("（", "(").replace("）", ")").strip()
    joined: list[dict[str, str]] = []
    for r in rows:
        prev = joined[-1] if joined else None
        if (
            prev is not None
            and r["no"]
            and prev["no"] == r["no"]
            and prev["section"] == r["section"]
            and (not _balanced(prev["name"]) or r["name"].startswith("("))
        ):
            prev["name"] += r["name"]
            continue
        joined.append(dict(r))
    out: dict[str, list[str]] = defaultdict(list)
    for r in joined:
        if r["class_code"].startswith(prefixes) and r["name"] and r["name"] not in out[r["class_code"]]:
            out[r["class_code"]].append(r["name"])
    return dict(out)


def alternatives(name: str) -> list[str]:
    """The name, and for 'A(B)' / 'A[B]' with a Chinese alternative B: A and B."""
    out = [name]
    if "[" in name and "]" in name:  # 精蛋白人胰岛素混合(30R)[精蛋白重组人胰岛素混合(30R)]
        start, end = name.index("["), name.rindex("]")
        parts = (name[:start] + name[end + 1 :], name[start + 1 : end])
    else:  # 坦洛新(坦索罗辛); a bracket without two Chinese characters (30R) is part of the name
        m = re.search(r"\(([^()]*[\u4e00-\u9fff]{2,}[^()]*)\)", name)
        parts = (name[: m.start()] + name[m.end() :], m.group(1)) if m else ()
    out += [x.strip() for x in parts if x.strip() and x.strip() not in out]
    return out


def key(name: str) -> str:
    from toolkit.knowledge.names import _MIX, strip_form, strip_salt

    t = name.replace("（", "(").replace("）", ")").replace(" ", "").lower()
    t = _ROMAN.sub("", t)
    # a mixture bracket is part of the name, as the resolver reads it: 精蛋白人胰岛素混合(30r) → …混合30r
    t = re.sub(r"\(([^()]*)\)", lambda m: m.group(1) if _MIX.search(m.group(1)) else m.group(0), t)
    for _ in range(2):
        t = strip_salt(strip_form(t))
    return t


def classify(kb, name: str) -> tuple[str, str | None, str]:
    """('own' | 'own_alias' | 'wrong' | 'unresolved', drug id, how)."""
    alts = alternatives(name)
    match = None
    for a in alts:
        match = kb.names.resolve(a)
        if match is not None:
            break
    if match is None:
        return "unresolved", None, ""
    d = kb.drugs[match.drug_id]
    keys = {key(a) for a in alts}
    if keys & ({key(d.name)} | {key(s) for s in d.salts}):
        return "own", d.id, match.kind
    if keys & {key(s) for s in d.aliases}:
        return "own_alias", d.id, match.kind
    return "wrong", d.id, match.kind


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", nargs="?", default=str(DEFAULT_CSV))
    ap.add_argument(
        "--prefix", action="append", help="class_code prefix (repeatable); default: chronic classes"
    )
    ap.add_argument("--list", action="store_true", help="list every wrong and unresolved name")
    ap.add_argument("--rules", default=None, help="knowledge-base directory (default: shipped)")
    args = ap.parse_args(argv)
    path = Path(args.csv)
    if not path.is_file():
        print(f"{path}: not found; nothing to measure (the NRDL list is not part of the repository)")
        return 0
    from toolkit.knowledge import load_knowledge

    kb = load_knowledge(args.rules)
    prefixes = tuple(args.prefix) if args.prefix else DEFAULT_PREFIXES
    by_class = read_names(path, prefixes)
    totals: dict[str, int] = defaultdict(int)
    problems: list[str] = []
    print(f"KB {kb.version}; {path.name}; classes {', '.join(prefixes)}")
    print(f"{'class':<8} {'names':>5} {'own':>4} {'alias':>5} {'wrong':>5} {'unres':>5}  class_name")
    names_csv = {r["class_code"]: r["class_name"] for r in csv.DictReader(path.open(encoding="utf-8-sig"))}
    for code in sorted(by_class):
        counts: dict[str, int] = defaultdict(int)
        for name in by_class[code]:
            status, drug_id, how = classify(kb, name)
            counts[status] += 1
            if status in ("wrong", "unresolved"):
                problems.append(f"{code} {status:<10} {name}" + (f" → {drug_id} ({how})" if drug_id else ""))
        n = len(by_class[code])
        for k in ("own", "own_alias", "wrong", "unresolved"):
            totals[k] += counts[k]
        totals["names"] += n
        print(
            f"{code:<8} {n:>5} {counts['own']:>4} {counts['own_alias']:>5} {counts['wrong']:>5} "
            f"{counts['unresolved']:>5}  {names_csv.get(code, '')}"
        )
    n = totals["names"] or 1
    own = totals["own"] + totals["own_alias"]
    print(
        f"{'total':<8} {totals['names']:>5} {totals['own']:>4} {totals['own_alias']:>5} {totals['wrong']:>5} "
        f"{totals['unresolved']:>5}"
    )
    print(
        f"resolved to own entry: {own}/{totals['names']} = {100 * own / n:.1f} %; "
        f"wrong: {totals['wrong']}; unresolved: {totals['unresolved']}"
    )
    if args.list and problems:
        print("\n".join(["", "wrong / unresolved:", *problems]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
