"""Reports for pharmacists, rendered from the batch journal: CSV, Excel and HTML.

Statistics follow 医院处方点评管理规范: per prescriber the number of
prescriptions, the number with at least one warn/block finding and their rate
(不合理处方率), and counts per 点评 class and per finding category.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.knowledge.loader import Knowledge

_SEVERITY_LABEL = {"block": "拦截", "warn": "警示", "info": "提示"}
_STATUS_LABEL = {"ok": "通过", "flagged": "需干预", "error": "错误"}
ROW_COLUMNS = ("行号", "处方号", "药品", "状态", "最高级别", "规则", "问题", "错误", "医生", "科室")


def iter_journal(journal: Path) -> Iterator[dict[str, Any]]:
    with journal.open(encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def _row_findings(case: dict[str, Any], item: int | None) -> list[dict[str, Any]]:
    return [f for f in case["findings"] if not f["items"] or (item is not None and item in f["items"])]


def iter_rows(journal: Path) -> Iterator[dict[str, Any]]:
    """One report row per input row, in input order."""
    for case in iter_journal(journal):
        for r in case["rows"]:
            fs = [] if r["status"] == "error" else _row_findings(case, r["item"])
            top = max(fs, key=lambda f: ("info", "warn", "block").index(f["severity"]), default=None)
            yield {
                "行号": r["line"], "处方号": case["id"], "药品": r["drug"], "状态": _STATUS_LABEL[r["status"]],
                "最高级别": _SEVERITY_LABEL[top["severity"]] if top else "",
                "规则": ";".join(dict.fromkeys(f["rule_id"] for f in fs)),
                "问题": "；".join(dict.fromkeys(f"[{_SEVERITY_LABEL[f['severity']]}]{f['message']}" for f in fs)),
                "错误": r["error"] or "", "医生": case.get("prescriber") or "", "科室": case.get("department") or "",
                "_severity": top["severity"] if top else None, "_status": r["status"],
            }


@dataclass
class DoctorStats:
    prescriptions: int = 0
    irrational: int = 0
    errors: int = 0
    dianping: Counter = field(default_factory=Counter)
    categories: Counter = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        audited = self.prescriptions - self.errors
        return self.irrational / audited if audited else 0.0


def collect_stats(journal: Path) -> tuple[DoctorStats, dict[str, DoctorStats]]:
    total = DoctorStats()
    by_doctor: dict[str, DoctorStats] = defaultdict(DoctorStats)
    for case in iter_journal(journal):
        doctor = case.get("prescriber") or "(未填写)"
        for s in (total, by_doctor[doctor]):
            s.prescriptions += 1
            if case["status"] == "error":
                s.errors += 1
                continue
            actionable = [f for f in case["findings"] if f["severity"] != "info"]
            if actionable:
                s.irrational += 1
            for f in actionable:
                s.categories[f["category"]] += 1
                if f.get("dianping"):
                    s.dianping[f"{f['dianping']['class']} {f['dianping']['item']}"] += 1
    return total, dict(by_doctor)


def write_report(journal: Path, output: Path, fmt: str, kb: Knowledge) -> None:
    {"csv": write_csv, "xlsx": write_excel, "html": write_html}[fmt](journal, output, kb)


def write_csv(journal: Path, output: Path, kb: Knowledge | None = None) -> None:
    # utf-8-sig: Excel on Chinese Windows opens it with the right encoding
    with output.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=ROW_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for row in iter_rows(journal):
            w.writerow(row)


def write_excel(journal: Path, output: Path, kb: Knowledge | None = None, max_doctor_sheets: int = 50) -> None:
    """Excel report: 审方明细 (block rows red, warn rows yellow), 统计, and one sheet per prescriber."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    fills = {"block": PatternFill("solid", fgColor="FFC7CE"), "warn": PatternFill("solid", fgColor="FFEB9C"),
             "error": PatternFill("solid", fgColor="D9D9D9")}
    bold = Font(bold=True)
    wb = Workbook(write_only=True)
    total, doctors = collect_stats(journal)

    summary = wb.create_sheet("统计")
    summary.append([_cell(summary, "医生", bold), _cell(summary, "处方数", bold), _cell(summary, "不合理处方数", bold),
                    _cell(summary, "不合理处方率", bold), _cell(summary, "无法审核", bold)])
    for name, s in sorted(doctors.items(), key=lambda kv: -kv[1].prescriptions):
        summary.append([name, s.prescriptions, s.irrational, round(s.rate, 4), s.errors])
    summary.append(["合计", total.prescriptions, total.irrational, round(total.rate, 4), total.errors])
    summary.append([])
    summary.append([_cell(summary, "处方点评分类", bold), _cell(summary, "问题数", bold)])
    for key, n in total.dianping.most_common():
        summary.append([key, n])
    summary.append([])
    summary.append([_cell(summary, "问题类别", bold), _cell(summary, "问题数", bold)])
    for key, n in total.categories.most_common():
        summary.append([key, n])

    detail = wb.create_sheet("审方明细")
    detail.append([_cell(detail, c, bold) for c in ROW_COLUMNS])
    per_doctor_rows: dict[str, list[list[Any]]] = defaultdict(list)
    top_doctors = {d for d, _ in sorted(doctors.items(), key=lambda kv: -kv[1].prescriptions)[:max_doctor_sheets]}
    for row in iter_rows(journal):
        key = "error" if row["_status"] == "error" else row["_severity"]
        fill = fills.get(key or "")
        values = [row[c] for c in ROW_COLUMNS]
        detail.append([_cell(detail, v, fill=fill) for v in values] if fill else values)
        doctor = row["医生"] or "(未填写)"
        if doctor in top_doctors and row["_status"] != "ok":
            per_doctor_rows[doctor].append([*values, key])
    for doctor in sorted(top_doctors, key=lambda d: -doctors[d].prescriptions):
        s = doctors[doctor]
        ws = wb.create_sheet(_sheet_name(doctor))
        ws.append(["医生", doctor, "处方数", s.prescriptions, "不合理处方数", s.irrational,
                   "不合理处方率", round(s.rate, 4)])
        for key, n in s.dianping.most_common():
            ws.append(["点评分类", key, n])
        ws.append([])
        ws.append([_cell(ws, c, bold) for c in ROW_COLUMNS])
        for *values, key in per_doctor_rows.get(doctor, []):
            fill = fills.get(key or "")
            ws.append([_cell(ws, v, fill=fill) for v in values] if fill else values)
    wb.save(output)


def _cell(ws: Any, value: Any, font: Any = None, fill: Any = None) -> Any:
    from openpyxl.cell import WriteOnlyCell

    c = WriteOnlyCell(ws, value=value)
    if font is not None:
        c.font = font
    if fill is not None:
        c.fill = fill
    return c


def _sheet_name(name: str) -> str:
    for ch in "[]:*?/\\":
        name = name.replace(ch, "_")
    return name[:31] or "(未填写)"


_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>处方前置审核报告</title>
<style>
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px}
th{background:#f3f3f3}.block{background:#ffc7ce}.warn{background:#ffeb9c}.error{background:#d9d9d9}
.bar{display:inline-block;height:12px;background:#4a7bd0}
</style></head><body>
<h1>处方前置审核报告</h1>
<p>知识库版本 {{ kb_version }}；处方 {{ total.prescriptions }} 张，不合理处方 {{ total.irrational }} 张，
不合理处方率 {{ "%.1f" % (total.rate * 100) }}%，无法审核 {{ total.errors }} 张。</p>
<h2>按医生</h2>
<table><tr><th>医生</th><th>处方数</th><th>不合理处方数</th><th>不合理处方率</th></tr>
{% for name, s in doctors %}<tr><td>{{ name }}</td><td>{{ s.prescriptions }}</td><td>{{ s.irrational }}</td>
<td><span class="bar" style="width:{{ (s.rate * 200) | int }}px"></span> {{ "%.1f" % (s.rate * 100) }}%</td></tr>
{% endfor %}</table>
<h2>按问题类别</h2>
<table><tr><th>类别</th><th>问题数</th></tr>
{% for k, n in categories %}<tr><td>{{ k }}</td><td><span class="bar" style="width:{{ (n * 300 / max_cat) | int }}px">
</span> {{ n }}</td></tr>{% endfor %}</table>
<h2>按处方点评分类</h2>
<table><tr><th>分类</th><th>问题数</th></tr>
{% for k, n in dianping %}<tr><td>{{ k }}</td><td>{{ n }}</td></tr>{% endfor %}</table>
<h2>需干预的药品行{% if truncated %}（前 {{ rows | length }} 行）{% endif %}</h2>
<table><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for r in rows %}<tr class="{{ r._css }}">{% for c in columns %}<td>{{ r[c] }}</td>{% endfor %}</tr>{% endfor %}
</table></body></html>
"""


def write_html(journal: Path, output: Path, kb: Knowledge | None = None, max_rows: int = 5000) -> None:
    """A self-contained HTML page (no scripts, no external assets) with statistics and flagged rows."""
    from jinja2 import Environment

    total, doctors = collect_stats(journal)
    rows = []
    truncated = False
    for row in iter_rows(journal):
        if row["_status"] == "ok":
            continue
        if len(rows) >= max_rows:
            truncated = True
            break
        row["_css"] = "error" if row["_status"] == "error" else row["_severity"] or ""
        rows.append(row)
    env = Environment(autoescape=True)
    html = env.from_string(_HTML).render(
        kb_version=kb.version if kb else "", total=total,
        doctors=sorted(doctors.items(), key=lambda kv: -kv[1].prescriptions),
        categories=total.categories.most_common(), max_cat=max(total.categories.values(), default=1),
        dianping=total.dianping.most_common(), rows=rows, truncated=truncated, columns=ROW_COLUMNS)
    output.write_text(html, encoding="utf-8")
