"""Matching the clinic's HIS drug catalogue to the knowledge base once (药品字典配对).

A clinic's HIS has its own catalogue (药品编码, 通用名, 商品名, 规格, 剂型, 厂家, 单位). A deployment starts
by matching it to the knowledge base once, so that audits look drugs up by code instead of guessing
from names:

1. :func:`propose` reads the catalogue and proposes, for each row, the KB entry and form — with how the
   match was made and how sure it is — or says the drug is not covered;
2. :func:`write_review_sheet` writes the proposals as a sheet the pharmacist corrects (确认 是/否, 更正药品ID);
3. :func:`apply_review_sheet` turns the confirmed sheet into a
   :class:`~toolkit.knowledge.dictionary.DrugDictionary` file (YAML) kept in
   the institution's local rules folder and named by its local rules file (``drug_dictionary:``);
4. at audit time a line that carries a 药品编码 is looked up in the dictionary first; a code missing from
   it is reported (RX-FMT-011), not guessed from the name.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from toolkit.errors import InputError, KnowledgeError
from toolkit.knowledge.dictionary import DictionaryEntry, DrugDictionary
from toolkit.labels import COVERAGE_LABELS, MATCH_LABELS

from .readers import _open_table, detect_format
from .report import neutralise

# catalogue columns as HIS systems name them → field
CATALOGUE_COLUMNS: dict[str, str] = {
    "药品编码": "code",
    "药品代码": "code",
    "编码": "code",
    "药品ID": "code",
    "药品id": "code",
    "HIS编码": "code",
    "院内编码": "code",
    "code": "code",
    "通用名": "generic",
    "通用名称": "generic",
    "药品通用名": "generic",
    "药品名称": "generic",
    "品名": "generic",
    "generic": "generic",
    "name": "generic",
    "商品名": "brand",
    "商品名称": "brand",
    "brand": "brand",
    "规格": "strength",
    "药品规格": "strength",
    "strength": "strength",
    "剂型": "form",
    "form": "form",
    "厂家": "maker",
    "生产厂家": "maker",
    "生产企业": "maker",
    "manufacturer": "maker",
    "单位": "unit",
    "包装单位": "unit",
    "unit": "unit",
}

Confidence = Literal["高", "中", "低", "无"]


@dataclass
class Proposal:
    """One catalogue row with the KB drug and form proposed for it, how it matched and how sure it is."""

    row: int
    code: str
    generic: str
    brand: str
    strength: str
    form: str
    maker: str
    unit: str
    drug: str | None = None  # proposed formulary id
    drug_name: str = ""
    how: str = (
        ""  # 通用名精确 / 去剂型盐基 / 商品名 / 名称包含 / 同音 / 错别字 / 剂型未收录 / 已知未收录 / 未识别
    )
    confidence: Confidence = "无"
    form_match: str = ""  # the KB form and strength matched, or why not
    coverage: str = "none"  # full / class / none
    note: str = ""


_HOW = MATCH_LABELS  # one vocabulary: toolkit/labels.py
_CONFIDENCE: dict[str, Confidence] = {
    "exact": "高",
    "stripped": "高",
    "contained": "中",
    "homophone": "低",
    "typo": "低",
}


def read_catalogue(path: str | Path, columns: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The catalogue's rows as ``{row, code, generic, brand, strength, form, maker, unit}`` (same encodings
    and file types as batch files: CSV UTF-8/GBK, Excel, Parquet)."""

    path = Path(path)
    mapping = dict(CATALOGUE_COLUMNS)
    mapping.update(columns or {})
    header, rows = _open_table(path, detect_format(path))
    index = {mapping[h]: i for i, h in enumerate(header) if h in mapping}
    if "generic" not in index and "brand" not in index:
        raise InputError(
            f"no drug-name column: expected one of 通用名/药品名称/商品名, found {', '.join(header)}",
            file=str(path),
        )
    out = []
    for n, values in rows:
        rec = {
            f: (str(values[i]).strip() if i < len(values) and values[i] is not None else "")
            for f, i in index.items()
        }
        if not any(rec.values()):
            continue
        out.append(
            {
                "row": n,
                **{
                    f: rec.get(f, "")
                    for f in ("code", "generic", "brand", "strength", "form", "maker", "unit")
                },
            }
        )
    return out


def propose(rows: list[dict[str, Any]], kb: Any) -> list[Proposal]:
    """For each catalogue row, the KB entry and form it is (or that it is not covered), and how sure."""
    from toolkit.audit.resolve import resolve_item
    from toolkit.records import PrescriptionItem

    out = []
    for rec in rows:
        p = Proposal(**rec)
        written = (p.generic or p.brand) + (p.form if p.form and p.form not in (p.generic or "") else "")
        tries = [w for w in (written, p.generic, p.brand) if w]
        r = None
        for w in tries:
            r = resolve_item(
                0, PrescriptionItem(drug=w, strength=p.strength or None, unit=p.unit or None), kb
            )
            if r.drug is not None or r.local_form:
                break
        if r is not None and r.drug is not None and r.match is not None:
            p.drug, p.drug_name = r.drug.id, r.drug.name
            p.how = _HOW.get(r.match.kind, r.match.kind)
            if r.match.source == "brand":
                p.how = "商品名"
            p.confidence = _CONFIDENCE.get(r.match.kind, "低")
            if r.match.source in ("brand", "alias") and p.confidence == "高":
                p.confidence = "中"
            p.coverage = r.drug.tier
            if r.form is not None:
                amounts = "/".join(f"{a:g} {u}" for a, u in r.strength.amounts) if r.strength else ""
                p.form_match = f"{r.form.form} {amounts or '、'.join(r.form.strengths)}".strip()
            elif p.strength:
                p.form_match = f"规格“{p.strength}”未在知识库剂型中找到"
                if p.confidence == "高":
                    p.confidence = "中"
        elif r is not None and r.local_form:
            p.how, p.note = "剂型未收录", f"{r.local_form}制剂：知识库仅收录该药的其他剂型"
        elif r is not None and r.known:
            p.how, p.note = "已知未收录", f"识别为药品“{r.known}”，知识库未收录"
        else:
            p.how, p.note = "未识别", "名称未能识别为知识库中的药品"
        out.append(p)
    return out


def coverage_summary(proposals: list[Proposal], kb: Any) -> dict[str, Any]:
    """Share of catalogue rows by coverage level and by the drug's top class."""
    levels = Counter(p.coverage for p in proposals)
    by_class: dict[str, Counter[str]] = {}
    for p in proposals:
        top = "未收录"
        if p.drug:
            d = kb.drugs[p.drug]
            cid = (
                d.classes[0]
                if d.classes
                else (
                    kb.drugs[d.ingredients[0].drug].classes[0]
                    if d.ingredients and kb.drugs[d.ingredients[0].drug].classes
                    else ""
                )
            )
            while cid and kb.classes[cid].parent:
                cid = kb.classes[cid].parent
            top = kb.classes[cid].name if cid else "其他"
        by_class.setdefault(top, Counter())[p.coverage] += 1
    total = len(proposals) or 1
    return {
        "rows": len(proposals),
        "levels": {
            k: {"rows": levels.get(k, 0), "share": round(levels.get(k, 0) / total, 4)}
            for k in ("full", "class", "none")
        },
        "by_class": {k: dict(v) for k, v in sorted(by_class.items(), key=lambda kv: -sum(kv[1].values()))},
    }


SHEET_COLUMNS = (
    "行号",
    "药品编码",
    "通用名",
    "商品名",
    "规格",
    "剂型",
    "厂家",
    "单位",
    "建议药品ID",
    "建议药品名",
    "匹配方式",
    "可信度",
    "剂型规格",
    "审核覆盖",
    "说明",
    "确认(是/否)",
    "更正药品ID",
)
_COVERAGE_TEXT = COVERAGE_LABELS  # one vocabulary: toolkit/labels.py


def write_review_sheet(proposals: list[Proposal], kb: Any, out: str | Path, source: str = "") -> Path:
    """The pharmacist's review sheet (.xlsx or .csv): one row per catalogue row, high-confidence rows
    pre-confirmed (是), others left blank to decide; an .xlsx adds a 覆盖统计 sheet."""
    out = Path(out)
    rows = []
    for p in proposals:
        confirmed = "是" if p.confidence == "高" else ("否" if p.drug is None else "")
        rows.append(
            [
                p.row,
                p.code,
                p.generic,
                p.brand,
                p.strength,
                p.form,
                p.maker,
                p.unit,
                p.drug or "",
                p.drug_name,
                p.how,
                p.confidence,
                p.form_match,
                _COVERAGE_TEXT[p.coverage],
                p.note,
                confirmed,
                "",
            ]
        )
    summary = coverage_summary(proposals, kb)
    if out.suffix.lower() == ".csv":
        import csv

        with open(out, "w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(SHEET_COLUMNS)
            w.writerows([[neutralise(v) for v in r] for r in rows])
        return out
    if out.suffix.lower() != ".xlsx":
        raise InputError(f"unsupported review sheet type '{out.suffix}': use .xlsx or .csv", file=str(out))
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = "配对审核"
    ws.append(list(SHEET_COLUMNS))
    for c in ws[1]:
        c.font = Font(bold=True)
    fills = {
        "高": None,
        "中": PatternFill("solid", fgColor="FFF2CC"),
        "低": PatternFill("solid", fgColor="F8CBAD"),
        "无": PatternFill("solid", fgColor="D9D9D9"),
    }
    for r in rows:
        ws.append([neutralise(v) for v in r])
        fill = fills[r[11]]
        if fill is not None:
            for c in ws[ws.max_row]:
                c.fill = fill
    widths = (6, 12, 22, 14, 14, 10, 16, 6, 22, 16, 14, 6, 20, 10, 30, 10, 16)
    for i, w in enumerate(widths):
        ws.column_dimensions[ws.cell(row=1, column=i + 1).column_letter].width = w
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    s = wb.create_sheet("覆盖统计")
    s.append(["目录文件", source])
    s.append(["知识库版本", kb.version])
    s.append(["目录行数", summary["rows"]])
    s.append([])
    s.append(["审核覆盖", "行数", "占比"])
    for k, v in summary["levels"].items():
        s.append([_COVERAGE_TEXT[k], v["rows"], f"{v['share']:.1%}"])
    s.append([])
    s.append(["药品类别", "完整审核", "仅类别规则", "未收录"])
    for cls, c in summary["by_class"].items():
        s.append([cls, c.get("full", 0), c.get("class", 0), c.get("none", 0)])
    wb.save(out)
    return out


def apply_review_sheet(sheet: str | Path, kb: Any, institution: str = "") -> tuple[DrugDictionary, list[str]]:
    """The confirmed sheet → a dictionary. Rows confirmed 是 map their code to 更正药品ID (else 建议药品ID;
    blank = confirmed not covered); rows 否 or undecided are left out and listed as warnings, as are
    codes seen twice and unknown ids (errors naming the row)."""

    sheet = Path(sheet)
    header, rows = _open_table(sheet, detect_format(sheet))
    missing = [c for c in ("药品编码", "建议药品ID", "确认(是/否)") if c not in header]
    if missing:
        raise InputError(f"not a review sheet: missing column(s) {', '.join(missing)}", file=str(sheet))
    col = {h: i for i, h in enumerate(header)}
    entries: dict[str, DictionaryEntry] = {}
    warnings: list[str] = []
    errors: list[str] = []
    undecided = 0
    for n, values in rows:

        def get(name: str, values: list[Any] = values) -> str:
            i = col.get(name)
            v = values[i] if i is not None and i < len(values) else ""
            return str(v).strip().lstrip("'") if v is not None else ""

        code = get("药品编码")
        decision = get("确认(是/否)")
        if not code:
            if decision == "是":
                errors.append(f"{sheet.name} 第{n}行: 已确认但没有药品编码")
            continue
        if decision not in ("是", "Y", "y", "yes", "1", "√"):
            if decision in ("", None):
                undecided += 1
            continue
        drug = get("更正药品ID") or get("建议药品ID") or None
        if drug is not None and drug not in kb.drugs:
            errors.append(f"{sheet.name} 第{n}行 药品编码 {code}: 药品ID“{drug}”不在知识库中")
            continue
        if code in entries:
            warnings.append(f"{sheet.name} 第{n}行: 药品编码 {code} 重复，保留先出现的一行")
            continue
        entries[code] = DictionaryEntry(
            drug=drug,
            name=get("通用名") or get("商品名"),
            strength=get("规格") or None,
            form=get("剂型") or None,
        )
    if errors:
        raise KnowledgeError(errors)
    if undecided:
        warnings.append(f"{undecided} 行尚未确认（确认列为空），未写入药品字典")
    digest = hashlib.sha256(sheet.read_bytes()).hexdigest()[:16]
    return DrugDictionary(
        institution=institution,
        catalogue=f"{sheet.name} sha256:{digest}",
        confirmed=date.today().isoformat(),
        entries=entries,
    ), warnings
