"""Reports for pharmacists, rendered from the batch journal: CSV, Excel and HTML.

Statistics follow 医院处方点评管理规范: per prescriber the number of
prescriptions, the number with at least one warn/block finding and their rate
(不合理处方率), and counts per 点评 class and per finding category.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.knowledge.loader import Knowledge
from toolkit.labels import (
    COVERAGE_LABELS,
    COVERAGE_LEVELS,
    category_label,
    error_text,
    severity_label,
    status_label,
)

log = logging.getLogger(__name__)

ROW_COLUMNS = (
    "行号",
    "处方号",
    "药品",
    "状态",
    "审核覆盖",
    "最高级别",
    "规则",
    "问题",
    "错误",
    "医生",
    "科室",
    "提示",
)
"""Columns of every row-level report. 审核覆盖: which checks ran for the line (完整审核 / 仅类别规则 / 未收录;
未审核 for a row that could not be read)."""
COLUMN_WIDTHS = {
    "行号": 7,
    "处方号": 16,
    "药品": 24,
    "状态": 11,
    "审核覆盖": 11,
    "最高级别": 9,
    "规则": 16,
    "问题": 60,
    "错误": 40,
    "医生": 10,
    "科室": 12,
    "提示": 40,
}
"""Excel column widths (characters; a CJK character counts about two)."""
NOT_AUDITED = "未审核"
Progress = Callable[[int], None]
"""Called with the number of rows just written (report-writing progress)."""

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet reads a cell starting with one of these as a formula (OWASP CSV injection)."""
_NEGATIVE_NUMBER = re.compile(r"-\d+(?:\.\d+)?")


def neutralise(value: Any) -> Any:
    """A cell value that no spreadsheet runs: formula-leading text gets a leading apostrophe.

    Numbers (and text that is a plain negative number such as ``-5``) are kept as they are; every
    other string starting with ``= + - @``, a tab or a carriage return is prefixed with ``'``, as the
    OWASP CSV-injection rule recommends, so it shows as text and never becomes a live formula.
    """
    if (
        isinstance(value, str)
        and value
        and value[0] in FORMULA_LEADS
        and not _NEGATIVE_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def iter_journal(journal: Path) -> Iterator[dict[str, Any]]:
    """The journal's lines, one audited case each, as dicts (read lazily)."""
    with journal.open(encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def _row_findings(case: dict[str, Any], item: int | None) -> list[dict[str, Any]]:
    return [f for f in case["findings"] if not f["items"] or (item is not None and item in f["items"])]


def row_coverage(case: dict[str, Any], row: dict[str, Any]) -> str | None:
    """The coverage level of an input row (``full``/``class``/``none``), or ``None`` when it was not audited."""
    coverage = case.get("coverage") or ()
    item = row.get("item")
    if row["status"] == "error" or item is None or item >= len(coverage):
        return None
    return coverage[item]


def iter_rows(journal: Path, progress: Progress | None = None) -> Iterator[dict[str, Any]]:
    """One report row per input row, in input order (labels from :mod:`toolkit.labels`)."""
    for case in iter_journal(journal):
        notes = "；".join([*(case.get("notes") or ()), *(case.get("remarks") or ())])
        for r in case["rows"]:
            fs = [] if r["status"] == "error" else _row_findings(case, r["item"])
            top = max(fs, key=lambda f: ("info", "warn", "block").index(f["severity"]), default=None)
            level = row_coverage(case, r)
            yield {
                "行号": r["line"],
                "处方号": case["id"],
                "药品": r["drug"],
                "状态": status_label(r["status"], row=True),
                "审核覆盖": COVERAGE_LABELS[level] if level else NOT_AUDITED,
                "最高级别": severity_label(top["severity"]) if top else "",
                "规则": ";".join(dict.fromkeys(f["rule_id"] for f in fs)),
                "问题": "；".join(
                    dict.fromkeys(
                        f"[{severity_label(f['severity'])}·{category_label(f['category'])}]{f['message']}"
                        for f in fs
                    )
                ),
                "错误": error_text(r["error"]) if r["error"] else "",
                "医生": case.get("prescriber") or "",
                "科室": case.get("department") or "",
                "提示": notes,
                "_severity": top["severity"] if top else None,
                "_status": r["status"],
                "_coverage": level,
            }
        if progress is not None:
            progress(len(case["rows"]))


@dataclass
class DoctorStats:
    """Per prescriber (or in total). ``needs_review``: audited, but a line could not be checked (需人工审核);
    it is neither counted as rational nor as irrational, and stays in the rate's denominator."""

    prescriptions: int = 0
    irrational: int = 0
    errors: int = 0
    needs_review: int = 0
    dianping: Counter = field(default_factory=Counter)
    categories: Counter = field(default_factory=Counter)  # by category code; labels at rendering
    coverage: Counter = field(default_factory=Counter)  # audited drug lines by coverage level
    uncovered: Counter = field(default_factory=Counter)  # drug lines not covered (none), by written name
    partial: Counter = field(default_factory=Counter)  # drug lines with class rules only, by written name

    @property
    def rate(self) -> float:
        """不合理处方率: prescriptions with a warn/block finding over those audited (0.0 when none was)."""
        audited = self.prescriptions - self.errors
        return self.irrational / audited if audited else 0.0

    @property
    def audited(self) -> int:
        """The rate's denominator: prescriptions that could be audited (all but 无法审核)."""
        return self.prescriptions - self.errors

    def coverage_share(self, level: str) -> float:
        """Share of the audited drug lines at coverage ``level`` (full, class, none); 0.0 without lines."""
        lines = sum(self.coverage.values())
        return self.coverage[level] / lines if lines else 0.0


def collect_stats(journal: Path) -> tuple[DoctorStats, dict[str, DoctorStats]]:
    """Statistics of a journal: the totals and a :class:`DoctorStats` per prescriber (``(未填写)``: none)."""
    total = DoctorStats()
    by_doctor: dict[str, DoctorStats] = defaultdict(DoctorStats)
    for case in iter_journal(journal):
        doctor = case.get("prescriber") or "(未填写)"
        for s in (total, by_doctor[doctor]):
            s.prescriptions += 1
            if case["status"] == "error":
                s.errors += 1
                continue
            if case["status"] == "needs_review":
                s.needs_review += 1
            actionable = [f for f in case["findings"] if f["severity"] != "info"]
            if actionable:
                s.irrational += 1
            for f in actionable:
                s.categories[f["category"]] += 1
                if f.get("dianping"):
                    s.dianping[f"{f['dianping']['class']} {f['dianping']['item']}"] += 1
            for r in case["rows"]:
                level = row_coverage(case, r)
                if level is None:
                    continue
                s.coverage[level] += 1
                if level == "none":
                    s.uncovered[r["drug"] or "(未填写)"] += 1
                elif level == "class":
                    s.partial[r["drug"] or "(未填写)"] += 1
    return total, dict(by_doctor)


def write_report(
    journal: Path,
    output: Path,
    fmt: str,
    kb: Knowledge,
    notes: list[str] | None = None,
    progress: Progress | None = None,
) -> None:
    """Render the journal as ``fmt``; ``notes`` (e.g. unmapped columns) are listed in the report,
    ``progress`` is called as rows are written."""
    {"csv": write_csv, "xlsx": write_excel, "html": write_html}[fmt](
        journal, output, kb, notes=notes, progress=progress
    )


def write_csv(
    journal: Path,
    output: Path,
    kb: Knowledge | None = None,
    notes: list[str] | None = None,
    progress: Progress | None = None,
) -> None:
    """One row per input row; the CSV has no room for notes beyond the 提示 column (they go to stderr)."""
    # utf-8-sig: Excel on Chinese Windows opens it with the right encoding
    with output.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=ROW_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for row in iter_rows(journal, progress):
            w.writerow({c: neutralise(row[c]) for c in ROW_COLUMNS})


EXCEL_MAX_ROWS = 1_048_576
"""Rows of one Excel worksheet; Excel drops anything past it, so longer sheets are split."""


def write_excel(
    journal: Path,
    output: Path,
    kb: Knowledge | None = None,
    max_doctor_sheets: int = 50,
    max_rows: int = EXCEL_MAX_ROWS,
    notes: list[str] | None = None,
    progress: Progress | None = None,
) -> None:
    """Excel report as a pharmacist reads it: 统计 (per prescriber, 处方点评 classes, categories, 审核覆盖
    and the most frequent uncovered drugs, notes), 审方明细 (block rows red, warn rows yellow, 需人工审核
    blue, errors grey), and one sheet per prescriber. Every sheet has column widths, a frozen header and
    an autofilter on its table; rates are percentages (94.4%). A detail sheet longer than Excel's
    ``max_rows`` continues on 审方明细 (2), (3) … (logged as a warning), a prescriber's sheet stops at the
    limit with a closing note; every cell is neutralised against formula injection and every sheet name
    follows Excel's rules."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    fills = {
        "block": PatternFill("solid", fgColor="FFC7CE"),
        "warn": PatternFill("solid", fgColor="FFEB9C"),
        "error": PatternFill("solid", fgColor="D9D9D9"),
        "needs_review": PatternFill("solid", fgColor="CFE2F3"),
    }
    bold = Font(bold=True)
    wb = Workbook(write_only=True)
    names: set[str] = set()
    total, doctors = collect_stats(journal)
    last_col = get_column_letter(len(ROW_COLUMNS))

    def pct(ws: Any, value: float) -> Any:
        return _cell(ws, value, number_format=PERCENT_FORMAT)

    def widths(ws: Any, values: list[int]) -> None:
        for i, w in enumerate(values, start=1):
            ws.column_dimensions[get_column_letter(i)].width = w

    summary = wb.create_sheet(sheet_name("统计", names))
    widths(summary, [28, 12, 14, 14, 12, 12, 12])
    summary.freeze_panes = "A2"
    out: list[list[Any]] = []  # the sheet's rows, cut at Excel's limit below
    head = ("医生", "处方数", "不合理处方数", "不合理处方率", "需人工审核", "无法审核", "可审核处方数")
    out.append([_cell(summary, h, bold) for h in head])
    n = 1
    for name, s in sorted(doctors.items(), key=lambda kv: -kv[1].prescriptions):
        out.append(
            [name, s.prescriptions, s.irrational, pct(summary, s.rate), s.needs_review, s.errors, s.audited]
        )
        n += 1
    summary.auto_filter.ref = f"A1:G{min(n, max_rows)}"
    out.append(
        [
            "合计",
            total.prescriptions,
            total.irrational,
            pct(summary, total.rate),
            total.needs_review,
            total.errors,
            total.audited,
        ]
    )
    out.append(["注：不合理处方率 = 不合理处方数 ÷ 可审核处方数（处方数减去无法审核）"])
    out.append([])
    out.append([_cell(summary, "处方点评分类", bold), _cell(summary, "问题数", bold)])
    for key, k in total.dianping.most_common():
        out.append([key, k])
    out.append([])
    out.append([_cell(summary, "问题类别", bold), _cell(summary, "问题数", bold)])
    for key, k in total.categories.most_common():
        out.append([category_label(key), k])
    out.append([])
    lines = sum(total.coverage.values())
    out.append(
        [
            _cell(summary, f"审核覆盖（已审核药品行 {lines} 行）", bold),
            _cell(summary, "行数", bold),
            _cell(summary, "占比", bold),
        ]
    )
    for level in COVERAGE_LEVELS:
        out.append([COVERAGE_LABELS[level], total.coverage[level], pct(summary, total.coverage_share(level))])
    out.append([])
    out.append(
        [_cell(summary, f"最常见的未收录药品（前 {TOP_UNCOVERED} 种）", bold), _cell(summary, "行数", bold)]
    )
    for drug, k in total.uncovered.most_common(TOP_UNCOVERED):
        out.append([drug, k])
    if total.partial:
        out.append([])
        out.append(
            [
                _cell(summary, f"仅类别规则审核最多的药品（前 {TOP_UNCOVERED} 种）", bold),
                _cell(summary, "行数", bold),
            ]
        )
        for drug, k in total.partial.most_common(TOP_UNCOVERED):
            out.append([drug, k])
    if notes:
        out.append([])
        out.append([_cell(summary, "读取说明", bold)])
        for note in notes:
            out.append([note])

    if len(out) > max_rows:
        log.warning("Excel report: 统计 sheet cut at %d rows", max_rows)
        out = [*out[: max_rows - 1], [f"另有 {len(out) - max_rows + 1} 行超出 Excel 单表行数上限，未列出"]]
    for values in out:
        _append(summary, values)

    detail_widths = [COLUMN_WIDTHS[c] for c in ROW_COLUMNS]

    def new_detail(part: int) -> Any:
        ws = wb.create_sheet(sheet_name("审方明细" if part == 1 else f"审方明细 ({part})", names))
        widths(ws, detail_widths)
        ws.freeze_panes = "A2"
        _append(ws, [_cell(ws, c, bold) for c in ROW_COLUMNS])
        return ws

    part, detail, used = 1, new_detail(1), 1
    per_doctor_rows: dict[str, list[list[Any]]] = defaultdict(list)
    top_doctors = {
        d for d, _ in sorted(doctors.items(), key=lambda kv: -kv[1].prescriptions)[:max_doctor_sheets]
    }
    for row in iter_rows(journal, progress):
        key = row["_status"] if row["_status"] in {"error", "needs_review"} else row["_severity"]
        fill = fills.get(key or "")
        values = [row[c] for c in ROW_COLUMNS]
        if used >= max_rows:
            detail.auto_filter.ref = f"A1:{last_col}{used}"
            part += 1
            log.warning("Excel report: more than %d rows; continued on sheet 审方明细 (%d)", max_rows, part)
            detail, used = new_detail(part), 1
        _append(detail, [_cell(detail, v, fill=fill) for v in values] if fill else values)
        used += 1
        doctor = row["医生"] or "(未填写)"
        if doctor in top_doctors and row["_status"] != "ok":
            per_doctor_rows[doctor].append([*values, key])
    detail.auto_filter.ref = f"A1:{last_col}{used}"
    for doctor in sorted(top_doctors, key=lambda d: -doctors[d].prescriptions):
        s = doctors[doctor]
        ws = wb.create_sheet(sheet_name(doctor, names))
        widths(ws, detail_widths)
        header_row = len(s.dianping) + 3  # the summary line, one line per 点评 class, a blank line
        ws.freeze_panes = f"A{header_row + 1}"  # before any row: a write-only sheet writes its view first
        _append(
            ws,
            [
                "医生",
                doctor,
                "处方数",
                s.prescriptions,
                "不合理处方数",
                s.irrational,
                "不合理处方率",
                pct(ws, s.rate),
                "需人工审核",
                s.needs_review,
            ],
        )
        head_rows = 1
        for key, k in s.dianping.most_common():
            _append(ws, ["点评分类", key, k])
            head_rows += 1
        _append(ws, [])
        _append(ws, [_cell(ws, c, bold) for c in ROW_COLUMNS])
        room = max_rows - head_rows - 3  # the header lines above and the closing note
        rows = per_doctor_rows.get(doctor, [])
        for *values, key in rows[:room]:
            fill = fills.get(key or "")
            _append(ws, [_cell(ws, v, fill=fill) for v in values] if fill else values)
        ws.auto_filter.ref = f"A{header_row}:{last_col}{header_row + min(len(rows), room)}"
        if len(rows) > room:
            log.warning("Excel report: sheet of %s cut at %d rows", doctor, max_rows)
            _append(ws, [f"另有 {len(rows) - room} 行超出 Excel 单表行数上限，见“审方明细”各表"])
    wb.save(output)


PERCENT_FORMAT = "0.0%"
"""Rates are stored as fractions and shown as percentages with one decimal (0.9444 → 94.4%)."""
TOP_UNCOVERED = 20
"""How many uncovered drugs the coverage section lists."""


_SHEET_BAD = re.compile(r"[\[\]:*?/\\\x00-\x1f]")


def sheet_name(name: str, taken: set[str]) -> str:
    """An Excel-legal, unique sheet name: no ``[]:*?/\\`` or control characters, no leading or trailing
    apostrophe, not "History", at most 31 characters, unique ignoring case (``taken`` is updated)."""
    clean = _SHEET_BAD.sub("_", str(name)).strip().strip("'").strip() or "(未填写)"
    if clean.lower() == "history":
        clean = "History_"
    base, n = clean[:31], 1
    candidate = base
    while candidate.lower() in taken:
        n += 1
        suffix = f"~{n}"
        candidate = base[: 31 - len(suffix)] + suffix
    taken.add(candidate.lower())
    return candidate


def _append(ws: Any, values: list[Any]) -> None:
    """Append a row to a write-only sheet with every plain value neutralised (cells are, in :func:`_cell`)."""
    from openpyxl.cell.cell import Cell

    ws.append([v if isinstance(v, Cell) else neutralise(v) for v in values])


def _cell(ws: Any, value: Any, font: Any = None, fill: Any = None, number_format: str | None = None) -> Any:
    from openpyxl.cell import WriteOnlyCell

    c = WriteOnlyCell(ws, value=neutralise(value))
    if font is not None:
        c.font = font
    if fill is not None:
        c.fill = fill
    if number_format is not None:
        c.number_format = number_format
    return c


_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>处方前置审核报告</title>
<style>
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px}
th{background:#f3f3f3}.block{background:#ffc7ce}.warn{background:#ffeb9c}.error{background:#d9d9d9}
.needs_review{background:#cfe2f3}
.bar{display:inline-block;height:12px;background:#4a7bd0}
</style></head><body>
<h1>处方前置审核报告</h1>
<p>知识库版本 {{ kb_version }}；处方 {{ total.prescriptions }} 张，不合理处方 {{ total.irrational }} 张，
不合理处方率 {{ "%.1f" % (total.rate * 100) }}%（{{ total.irrational }}/{{ total.audited }}，分母为可审核处方数），
需人工审核 {{ total.needs_review }} 张，无法审核 {{ total.errors }} 张。</p>
{% if notes %}<h2>读取说明</h2><ul>{% for n in notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
<h2>按医生</h2>
<table><tr><th>医生</th><th>处方数</th><th>可审核处方数</th><th>不合理处方数</th><th>不合理处方率</th><th>需人工审核</th><th>无法审核</th></tr>
{% for name, s in doctors %}<tr><td>{{ name }}</td><td>{{ s.prescriptions }}</td><td>{{ s.audited }}</td><td>{{ s.irrational }}</td>
<td><span class="bar" style="width:{{ (s.rate * 200) | int }}px"></span> {{ "%.1f" % (s.rate * 100) }}%</td>
<td>{{ s.needs_review }}</td><td>{{ s.errors }}</td></tr>
{% endfor %}</table>
<h2>按问题类别</h2>
<table><tr><th>类别</th><th>问题数</th></tr>
{% for k, n in categories %}<tr><td>{{ k }}</td><td><span class="bar" style="width:{{ (n * 300 / max_cat) | int }}px">
</span> {{ n }}</td></tr>{% endfor %}</table>
<h2>审核覆盖</h2>
<p>已审核药品行 {{ coverage_lines }} 行：每行按知识库收录程度执行的审核（完整审核：全部规则含剂量；仅类别规则：
类别规则与特殊人群提示，无剂量审核；未收录：知识库未收录该药，药品相关规则未执行，需人工审核）。</p>
<table><tr><th>审核覆盖</th><th>行数</th><th>占比</th></tr>
{% for label, n, share in coverage %}<tr><td>{{ label }}</td><td>{{ n }}</td><td>{{ "%.1f" % (share * 100) }}%</td></tr>
{% endfor %}</table>
{% if uncovered %}<h3>最常见的未收录药品</h3>
<table><tr><th>药品</th><th>行数</th></tr>
{% for d, n in uncovered %}<tr><td>{{ d }}</td><td>{{ n }}</td></tr>{% endfor %}</table>{% endif %}
<h2>按处方点评分类</h2>
<table><tr><th>分类</th><th>问题数</th></tr>
{% for k, n in dianping %}<tr><td>{{ k }}</td><td>{{ n }}</td></tr>{% endfor %}</table>
<h2>需干预的药品行{% if truncated %}（前 {{ rows | length }} 行）{% endif %}</h2>
<table><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for r in rows %}<tr class="{{ r._css }}">{% for c in columns %}<td>{{ r[c] }}</td>{% endfor %}</tr>{% endfor %}
</table></body></html>
"""


def write_html(
    journal: Path,
    output: Path,
    kb: Knowledge | None = None,
    max_rows: int = 5000,
    notes: list[str] | None = None,
    progress: Progress | None = None,
) -> None:
    """A self-contained HTML page (no scripts, no external assets), all in Chinese: statistics with
    their denominators, categories, 审核覆盖 with the most frequent uncovered drugs, and flagged rows."""
    from jinja2 import Environment

    total, doctors = collect_stats(journal)
    rows = []
    truncated = False
    for row in iter_rows(journal, progress):
        if row["_status"] == "ok":
            continue
        if len(rows) >= max_rows:
            truncated = True
            break
        row["_css"] = (
            row["_status"] if row["_status"] in {"error", "needs_review"} else row["_severity"] or ""
        )
        rows.append(row)
    env = Environment(autoescape=True)
    html = env.from_string(_HTML).render(
        kb_version=kb.version if kb else "",
        total=total,
        doctors=sorted(doctors.items(), key=lambda kv: -kv[1].prescriptions),
        categories=[(category_label(k), n) for k, n in total.categories.most_common()],
        max_cat=max(total.categories.values(), default=1),
        coverage=[
            (COVERAGE_LABELS[lv], total.coverage[lv], total.coverage_share(lv)) for lv in COVERAGE_LEVELS
        ],
        coverage_lines=sum(total.coverage.values()),
        uncovered=total.uncovered.most_common(TOP_UNCOVERED),
        notes=notes or [],
        dianping=total.dianping.most_common(),
        rows=rows,
        truncated=truncated,
        columns=ROW_COLUMNS,
    )
    output.write_text(html, encoding="utf-8")
