"""How the demo shows things: audit and care-plan cards, the print view of a visit, the batch tables and
charts, the pharmacist's queue and decision tables, and the voice tab's pieces (ASR corrections and
warnings, 药名待确认, the highlighted dictation, facts, section boxes, diagnosis and drug tables) — HTML,
Markdown and table rows, no gradio.

Moved here from the library root (issue 15): only the Gradio views (``demo/app.py``) use them. They
call library verbs (:mod:`toolkit.demo_api`, the decision log of :mod:`toolkit.service.decisions`) and
shape the answer. HTML built here escapes every value taken from a record or a finding: dictated text
is untrusted input as far as the page is concerned.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.demo_api import DECISIONS, ITEM_FIELDS, written_rx_id
from toolkit.errors import InputError
from toolkit.labels import (
    CATEGORY_LABELS,
    FIELD_LABELS,
    MATCH_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    category_label,
    field_label,
)
from toolkit.records import RECORD_SECTIONS, AuditReport
from toolkit.service.decisions import has_block

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.asr import Transcript
    from toolkit.care import CarePlan
    from toolkit.demo_api import BatchResult
    from toolkit.extract import Entity, OutpatientRecord
    from toolkit.records import PrescriptionItem
    from toolkit.service.store import Store
    from toolkit.visit import Visit


# --------------------------------------------------------------------------- words and colours


SEVERITY_ZH = {s.value: label for s, label in SEVERITY_LABELS.items()}
"""Severity code → 拦截/警示/提示 (from :mod:`toolkit.labels`, the one vocabulary)."""

SEVERITY_COLOURS = {
    "block": ("#b91c1c", "#fef2f2"),
    "warn": ("#b45309", "#fffbeb"),
    "info": ("#1d4ed8", "#eff6ff"),
}
"""Severity → (border/text colour, background): block red, warn amber, info blue."""

CATEGORY_ZH = {c.value: label for c, label in CATEGORY_LABELS.items()}
"""Finding category → its label (from :mod:`toolkit.labels`)."""

ENTITY_COLOURS = {
    "症状": "#fde68a",
    "疾病": "#fca5a5",
    "药品": "#93c5fd",
    "规格": "#c4b5fd",
    "剂量": "#c4b5fd",
    "频次": "#a7f3d0",
    "途径": "#a7f3d0",
    "疗程": "#a7f3d0",
    "体征": "#fdba74",
    "检验": "#fdba74",
    "过敏原": "#f9a8d4",
    "部位": "#d9f99d",
}

# --------------------------------------------------------------------------- pharmacist queue


QUEUE_COLUMNS = ("审核编号", "处方号", "最高级别", "问题数", "主要问题", "提交时间")

# --------------------------------------------------------------------------- cards


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


EVIDENCE_LABELS = {
    "count": "数量",
    "limit": "限值",
    "age": "年龄",
    "field": "项目",
    "text": "所写",
    "missing": "缺少",
    "written": "处方所写",
    "code": "编码",
    "local": "本地剂型",
    "matched": "匹配为",
    "how": "匹配方式",
    "reason": "原因",
    "strength": "规格",
    "unit": "单位",
    "dose": "单次剂量",
    "single": "单次量",
    "daily": "日剂量",
    "weight_kg": "体重(kg)",
    "ratio": "倍数",
    "what": "项目",
    "value": "数值",
    "egfr": "eGFR",
    "why": "依据",
    "frequency": "频次",
    "route": "途径",
    "allowed": "允许途径",
    "mechanism": "机制",
    "effect": "后果",
    "ingredient": "成分",
    "products": "品种",
    "group": "类别",
    "allergen": "过敏原",
    "population": "人群",
    "level": "级别",
    "diagnoses": "诊断",
    "accepted_icd10": "适用诊断编码",
    "skin_test": "皮试结果",
    "length": "字数",
    "diagnosis": "诊断",
    "days": "天数",
    "quantity": "数量",
    "clinic_median": "本院中位数",
    "class": "类别",
    "rarity": "少见程度",
    "risk": "风险",
    "threshold": "阈值",
    "contributions": "主要因素",
    "drug": "药品",
    "drugs": "药品",
    "management": "处理",
    "note": "说明",
    "renal_measure": "肾功能指标",
    "renal_value": "肾功能数值",
    "labs.egfr": "eGFR",
    "labs.potassium": "血钾",
    "labs.alt": "ALT",
    "labs.scr": "血肌酐",
    "labs.hba1c": "HbA1c",
    "labs.crcl": "肌酐清除率",
}
"""Evidence key (a machine name) → the word shown on a card; an unknown key shows its value only."""

EVIDENCE_VALUES = {
    "population": {
        "elderly": "老年人",
        "renal": "肾功能不全",
        "hepatic": "肝功能不全",
        "pregnancy": "妊娠期",
        "lactation": "哺乳期",
        "children": "儿童",
    },
    "level": {"contraindicated": "禁用", "avoid": "不推荐使用", "caution": "慎用"},
    "how": MATCH_LABELS,
    "field": FIELD_LABELS,
}
"""Evidence values that are codes → their words (other values are shown as they are)."""

EVIDENCE_LIST_MAX = 6
"""A list longer than this (e.g. 50 ICD-10 ranges) is shown as its first items and a count."""


def _evidence_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        shown = [str(v) for v in value[:EVIDENCE_LIST_MAX]]
        more = len(value) - len(shown)
        return "、".join(shown) + (f" 等共 {len(value)} 项" if more > 0 else "")
    if isinstance(value, dict):
        return "、".join(f"{k} {v}" for k, v in list(value.items())[:EVIDENCE_LIST_MAX])
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _evidence_text(evidence: Mapping[str, Any]) -> str:
    parts = []
    for key, value in evidence.items():
        if value in (None, "", [], ()):
            continue
        label = EVIDENCE_LABELS.get(key)
        if isinstance(value, str):
            value = EVIDENCE_VALUES.get(key, {}).get(value, value)
        parts.append(f"{label}：{_evidence_value(value)}" if label else _evidence_value(value))
    return "；".join(parts)


OK_CARD = (
    '<div class="rx-card rx-ok" data-severity="ok" style="border-left:6px solid #15803d;background:#f0fdf4;'
    'padding:8px 12px;margin:6px 0"><span class="rx-mark" style="color:#15803d;font-weight:700">【通过】</span>'
    " 未发现问题</div>"
)
"""The card of a prescription without findings: a text mark (no emoji: without an emoji font it is a box)."""


def findings_html(report: AuditReport) -> str:
    """Audit cards, most severe first: coloured by severity, with message, evidence and source."""
    if report.status == "error":
        return (
            f'<div class="rx-card rx-block" data-severity="error" style="border-left:6px solid #b91c1c;'
            f'background:#fef2f2;padding:8px 12px;margin:6px 0"><b>{STATUS_LABELS["error"]}</b>：'
            f"{_e(error_text(report.error or ''))}</div>"
        )
    if not report.findings:
        return OK_CARD
    cards = []
    order = {"block": 0, "warn": 1, "info": 2}
    for f in sorted(report.findings, key=lambda f: order[f.severity.value]):
        sev = f.severity.value
        colour, background = SEVERITY_COLOURS[sev]
        refs = "<br>".join(_e(r) for r in f.references) or "—"
        dianping = (
            f"<div><small>处方点评：{_e(f.dianping.cls.value)} {_e(f.dianping.item)} "
            f"{_e(f.dianping.title)}</small></div>"
            if f.dianping
            else ""
        )
        evidence = _evidence_text(f.evidence)
        cards.append(
            f'<div class="rx-card rx-{sev}" data-severity="{sev}" data-rule="{_e(f.rule_id)}" '
            f'style="border-left:6px solid {colour};background:{background};padding:8px 12px;margin:6px 0;'
            f'border-radius:4px">'
            f'<div><span style="color:{colour};font-weight:700">【{SEVERITY_ZH[sev]}】</span> '
            f"<b>{_e(f.message)}</b></div>"
            f"<div><small>{_e(category_label(f.category))} · 规则 {_e(f.rule_id)} "
            f"第{f.rule_version}版{' · 模型提示' if f.source == 'model' else ''}</small></div>"
            + (f"<div><small>依据：{_e(evidence)}</small></div>" if evidence else "")
            + f'<div><small>来源：<span class="rx-refs">{refs}</span></small></div>{dianping}</div>'
        )
    counts = {s: sum(1 for f in report.findings if f.severity.value == s) for s in order}
    head = "　".join(
        f'<span style="color:{SEVERITY_COLOURS[s][0]}">{SEVERITY_ZH[s]} {n}</span>'
        for s, n in counts.items()
        if n
    )
    status = STATUS_LABELS.get(report.status, report.status)
    return f'<div class="rx-cards"><div><b>审核结果：{_e(status)}</b>　{head}</div>{"".join(cards)}</div>'


_ERROR_PREFIX = re.compile(r"^(?:file\s+.+?\s+)?row\s+(\d+)(?:\s*field\s+'(\w+)'(?:（[^）]*）)?)?\s*:?\s*")

_ASCII_ASIDE = re.compile(r"（[\x20-\x7e]+）")


def error_text(message: str) -> str:
    """An input error as a pharmacist reads it: ``file x.csv row 4: field 'dose'（单次剂量）: '两片' 不是数字``
    → ``第4行 单次剂量：'两片' 不是数字`` (no server path, no English aside)."""
    m = _ERROR_PREFIX.match(message)
    text = message
    if m:
        row, name = m.group(1), m.group(2)
        rest = message[m.end() :]
        inner = re.match(r"field\s+'(\w+)'(?:（[^）]*）)?\s*:?\s*", rest)
        if inner and not name:
            name, rest = inner.group(1), rest[inner.end() :]
        where = f"第{row}行"
        if name:
            label = field_label(name)
            where += " " + (label.split("（", 1)[1].rstrip("）") if "（" in label else name)
        text = f"{where}：{rest}" if rest else where
    return _ASCII_ASIDE.sub("", text).strip()


_CONTROL_ZH = {"controlled": "控制达标", "uncontrolled": "控制未达标", "unknown": "资料不足"}


def care_html(plan: CarePlan) -> str:
    """The care plan beside the cards: control status, follow-up, referral, screening, guidance."""
    if plan.status == "error":
        return f'<div class="care-plan"><b>无法生成管理建议</b>：{_e(plan.error or "")}</div>'
    parts = ['<div class="care-plan"><h4 style="margin:4px 0">慢病管理建议</h4>']
    if plan.conditions:
        rows = "".join(
            f"<li><b>{_e(c.name)}</b>：{_e(_CONTROL_ZH.get(c.control.value, c.control.value))}"
            + (f"（{_e('；'.join(c.missing))}）" if c.missing else "")
            + "</li>"
            for c in plan.conditions
        )
        parts.append(f"<div><b>控制情况</b><ul>{rows}</ul></div>")
    else:
        parts.append("<div>本次记录未涉及纳入管理的慢性病。</div>")
    if plan.follow_up.interval_days or plan.follow_up.reason:
        when = f"{plan.follow_up.interval_days} 天后" if plan.follow_up.interval_days else ""
        parts.append(f"<div><b>随访</b>：{_e(when)}{_e(plan.follow_up.reason)}</div>")
    for r in plan.referral:
        colour = "#b91c1c" if r.urgency == "urgent" else "#b45309"
        word = "紧急转诊" if r.urgency == "urgent" else "建议转诊"
        parts.append(f'<div style="color:{colour}"><b>{word}</b>：{_e(r.reason)}</div>')
    if plan.screening_due:
        parts.append(
            "<div><b>待完成检查</b>：" + "、".join(_e(s.label) for s in plan.screening_due) + "</div>"
        )
    if plan.guidance:
        tips = "".join(f"<li>{_e(g.text)}</li>" for g in plan.guidance)
        parts.append(f"<div><b>健康指导</b><ol>{tips}</ol></div>")
    parts.append("</div>")
    return "".join(parts)


# --------------------------------------------------------------------------- print view


_FREQ_ZH = {
    "qd": "每日一次",
    "bid": "每日两次",
    "tid": "每日三次",
    "qid": "每日四次",
    "qn": "每晚一次",
    "qw": "每周一次",
    "prn": "必要时",
    "st": "立即",
    "q12h": "每12小时一次",
    "q8h": "每8小时一次",
    "q6h": "每6小时一次",
}


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def print_html(draft: Visit, clinic: str = "社区卫生服务中心") -> str:
    """A printable 门诊病历 and 处方笺 of the visit as edited (one self-contained page, no outside resources).

    门诊病历 after 病历书写基本规范 第十三条 (就诊时间、科别、主诉、现病史、既往史、体征与辅助检查、诊断、
    治疗意见、医师签名); 处方笺 after 处方管理办法 第五条 and its 处方标准 (前记: 姓名、性别、年龄、科别、
    临床诊断、开具日期; 正文: Rp 药品名称、规格、用法用量; 后记: 医师、审核、调配、核对、发药药师签名)."""
    h = draft.header
    sex = {"M": "男", "F": "女"}.get(h.sex or "", "")
    age = f"{h.age:g}岁" if h.age is not None else ""
    p = draft.case.patient
    dx = (
        "；".join(d.name + (f"（{d.icd10}）" if d.icd10 else "") for d in draft.record.diagnoses)
        or "（未记录）"
    )
    head = (
        f'<table class="hdr"><tr><td>姓名：{_e(h.name or "")}</td><td>性别：{_e(sex)}</td><td>年龄：{_e(age)}</td>'
        f"<td>科别：{_e(h.department or '')}</td><td>日期：{_e(h.date or '')}</td></tr></table>"
    )
    sections = "".join(
        f"<p><b>{_e(name)}：</b>{_e(text)}</p>"
        for name, text in draft.sections.items()
        if name in RECORD_SECTIONS and text and text.strip()
    )
    said = draft.sections.get("过敏史", "")
    allergy = "、".join(p.allergies) or (
        "否认" if any(w in said for w in ("否认", "无", "没有")) else "未记录"
    )
    record = (
        f'<section class="page"><h2>{_e(clinic)}　门诊病历</h2>{head}'
        f"<p><b>药物过敏史：</b>{_e(allergy)}</p>{sections}"
        f'<p class="sign">医师签名：{_e(h.doctor or "")}</p></section>'
    )
    lines = []
    for it in draft.items:
        use = "，".join(
            x
            for x in (
                f"每次{_num(it.dose)}{it.unit or ''}" if it.dose is not None else "",
                _FREQ_ZH.get(it.frequency or "", it.frequency or ""),
                it.route or "",
                it.note or "",
                f"共{_num(it.days)}天" if it.days is not None else "",
            )
            if x
        )
        lines.append(
            f'<li><span class="drug">{_e(it.drug)}</span> {_e(it.strength or "")}<br>'
            f'<span class="sig">用法：{_e(use)}</span></li>'
        )
    rx = (
        f'<section class="page"><h2>{_e(clinic)}　处方笺</h2><div class="kind">普通</div>{head}'
        f"<p>临床诊断：{_e(dx)}　　药物过敏史：{_e(allergy)}</p>"
        f'<div class="rp">Rp</div><ol>{"".join(lines) or "<li>（无）</li>"}</ol>'
        f'<table class="hdr"><tr><td>医师：{_e(h.doctor or "")}</td><td>审核药师：</td><td>调配药师：</td>'
        f"<td>核对、发药药师：</td></tr></table></section>"
    )
    style = (
        "body{font-family:'Noto Sans CJK SC','Noto Sans SC',sans-serif;margin:0}"
        ".page{width:180mm;margin:8mm auto;padding:6mm;border:1px solid #999;page-break-after:always}"
        "h2{text-align:center;margin:2mm 0}.hdr{width:100%;border-collapse:collapse;margin:2mm 0}"
        ".hdr td{border-bottom:1px solid #999;padding:1mm}.rp{font-size:20px;font-weight:700}"
        ".kind{float:right;border:1px solid #333;padding:0 2mm}.sign{text-align:right;margin-top:6mm}"
        "li{margin:2mm 0}.sig{color:#333}@media print{.page{border:none;margin:0}}"
    )
    return (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>门诊病历与处方笺</title>'
        f"<style>{style}</style></head><body>{record}{rx}</body></html>"
    )


def export_print(draft: Visit, out_dir: str | Path) -> Path:
    """Write the printable page (:func:`print_html`) as ``门诊病历与处方笺.html`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "门诊病历与处方笺.html"
    path.write_text(print_html(draft), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- batch


FLAGGED_COLUMNS = ("序号", "处方号", "医生", "结论", "最高级别", "问题数", "主要问题")

ERROR_COLUMNS = ("序号", "文件行号", "处方号", "药品", "错误")


def _top_message(case: Mapping[str, Any]) -> str:
    findings = case.get("findings", [])
    order = {"block": 0, "warn": 1, "info": 2}
    top = min(findings, key=lambda f: order.get(f["severity"], 3), default=None)
    if case.get("status") == "error":
        return error_text(case.get("error") or "")
    return top["message"] if top else ""


def flagged_rows(result: BatchResult, text: str = "", level: str = "") -> list[list[Any]]:
    """The prescriptions that were not 通过 (:data:`FLAGGED_COLUMNS`), filtered by a text (处方号, 医生 or the
    message contains it) and by the top level (拦截/警示/提示/无法审核/需人工审核; empty: all). 序号 opens it."""
    out = []
    needle = (text or "").strip()
    for n, case in enumerate(result.flagged, 1):
        top = case.get("max_severity")
        lvl = STATUS_LABELS["error"] if case["status"] == "error" else SEVERITY_ZH.get(top or "", "")
        row = [
            n,
            written_rx_id(case),
            case.get("prescriber") or "",
            STATUS_LABELS.get(case["status"], case["status"]),
            lvl,
            len(case.get("findings", [])),
            _top_message(case),
        ]
        if level and level not in (lvl, row[3]):
            continue
        if needle and not any(needle in str(c) for c in row[1:]):
            continue
        out.append(row)
    return out


def error_rows(result: BatchResult, text: str = "") -> list[list[Any]]:
    """Every row that could not be read or audited (:data:`ERROR_COLUMNS`); an empty 处方号 is an error row
    with an empty 处方号 cell, never a prescription called "(未填写)"."""
    out = []
    needle = (text or "").strip()
    for n, r in enumerate(result.errors, 1):
        row = [
            n,
            r.get("line", ""),
            r.get("rx_id", ""),
            r.get("drug") or "",
            error_text(r.get("error") or ""),
        ]
        if needle and not any(needle in str(c) for c in row[1:]):
            continue
        out.append(row)
    return out


def batch_case_html(result: BatchResult, number: Any) -> str:
    """The cards of flagged case ``number`` (the table's 序号), the same cards as a single audit."""
    try:
        case = result.flagged[int(number) - 1]
    except (TypeError, ValueError, IndexError):
        return ""
    keys = AuditReport.model_fields.keys()
    report = AuditReport.model_validate({k: v for k, v in case.items() if k in keys})
    name = written_rx_id(case)
    doctor = f"，医生 {_e(case['prescriber'])}" if case.get("prescriber") else ""
    return f"<div><b>处方号 {_e(name or '（空）')}</b>{doctor}</div>" + findings_html(report)


def _bars(title: str, rows: Sequence[tuple[str, float, str]], colour: str) -> str:
    top = max((v for _, v, _ in rows), default=0) or 1
    body = "".join(
        f'<div class="bar-row" style="display:flex;align-items:center;margin:2px 0">'
        f'<span style="width:9em;flex:none;overflow:hidden;text-overflow:ellipsis">{_e(label)}</span>'
        f'<span style="display:inline-block;height:14px;background:{colour};width:{max(v / top * 60, 0.5):.1f}%">'
        f'</span><span style="margin-left:6px">{_e(text)}</span></div>'
        for label, v, text in rows
    )
    return f'<div class="bar-chart"><b>{_e(title)}</b>{body or "<div>（无）</div>"}</div>'


def batch_charts_html(result: BatchResult) -> str:
    """Three bar charts as plain HTML (no chart library, nothing fetched): findings by category,
    不合理处方率 by doctor, and prescriptions by doctor."""
    t = result.total
    cats = sorted(t.categories.items(), key=lambda kv: -kv[1])
    doctors = sorted(result.by_doctor.items(), key=lambda kv: -kv[1].rate)
    audited = t.audited
    summary = (
        f"<div><b>共 {result.cases} 张处方、{result.rows} 行</b>；可审核处方 {audited} 张，"
        f"无法审核 {t.errors} 张，需人工审核 {t.needs_review} 张；"
        f"不合理处方 {t.irrational} 张，<b>不合理处方率 {t.rate:.1%}（{t.irrational}/{audited} 张可审核处方）</b>；"
        f"需干预行 {result.rows_flagged}，错误行 {result.rows_error}</div>"
    )
    if result.shown_max and (
        len(result.flagged) >= result.shown_max or len(result.errors) >= result.shown_max
    ):
        summary += f"<div>下表最多列出 {result.shown_max} 条，完整结果见下载的报告。</div>"
    return "".join(
        [
            '<div class="batch-charts">',
            summary,
            _bars("问题类别（警示及以上）", [(category_label(c), n, str(n)) for c, n in cats], "#f59e0b"),
            _bars(
                "不合理处方率（按医生；不合理/可审核处方）",
                [(d, s.rate, f"{s.rate:.1%}（{s.irrational}/{s.audited}）") for d, s in doctors],
                "#ef4444",
            ),
            _bars(
                "处方数（按医生）",
                [(d, s.prescriptions, str(s.prescriptions)) for d, s in doctors],
                "#3b82f6",
            ),
            "</div>",
        ]
    )


def doctor_rows(result: BatchResult) -> list[list[Any]]:
    """Per doctor: prescriptions, irrational ones, errors, 不合理处方率 (%) — the statistics table."""
    return [
        [d, s.prescriptions, s.irrational, s.errors, round(s.rate * 100, 1)]
        for d, s in sorted(result.by_doctor.items(), key=lambda kv: -kv[1].rate)
    ]


def queue_rows(store: Store, limit: int = 100) -> list[list[Any]]:
    """The queue as table rows (:data:`QUEUE_COLUMNS`): error, block, warn first; oldest first within."""
    rows = []
    for r in store.queue(limit):
        findings = r.report.get("findings", [])
        top = next(
            (f["message"] for f in findings if f["severity"] == r.max_severity), r.report.get("error") or ""
        )
        level = "错误" if r.status == "error" else SEVERITY_ZH.get(r.max_severity or "", "")
        rows.append([r.id, r.case_id, level, len(findings), top, r.created_at.strftime("%Y-%m-%d %H:%M")])
    return rows


def queue_detail_html(store: Store, audit_id: str) -> str:
    """The cards of one queued audit."""
    if not audit_id:
        return ""
    from toolkit.service.store import NotFound

    try:
        row = store.get_audit(audit_id)
    except NotFound:
        return "<div>未找到该审核记录</div>"
    report = AuditReport.model_validate({k: v for k, v in row.report.items() if k != "max_severity"})
    return f"<div><b>处方号 {_e(row.case_id)}</b></div>" + findings_html(report)


def override_reason_choices() -> list[tuple[str, str]]:
    """The standard override reasons (the service's CDS Hooks ``overrideReasons``) as (label, code), with
    an empty first choice: a reason code is offered, never forced; free text goes beside it."""
    from toolkit.service.cds import OVERRIDE_REASONS

    return [("（不选）", ""), *[(r["display"], r["code"]) for r in OVERRIDE_REASONS]]


def _reason_display(code: str | None) -> str:
    return next((label for label, c in override_reason_choices() if code and c == code), code or "")


def decision_target_html(store: Store, audit_id: str) -> str:
    """What the decision form decides on: the prescription id, its top severity and its findings count."""
    if not audit_id:
        return '<div class="decide-target">未选择处方</div>'
    from toolkit.service.store import NotFound

    try:
        row = store.get_audit(audit_id)
    except NotFound:
        return '<div class="decide-target">未找到该审核记录</div>'
    findings = row.report.get("findings", [])
    level = (
        STATUS_LABELS["error"] if row.status == "error" else SEVERITY_ZH.get(row.max_severity or "", "无问题")
    )
    blocked = " · 含拦截问题，通过须填写理由" if has_block(row.report) else ""
    return (
        f'<div class="decide-target"><b>本次决定针对：处方号 {_e(row.case_id)}</b>'
        f"（最高级别 {_e(level)}，问题 {len(findings)} 条{blocked}）</div>"
    )


DECISION_COLUMNS = (
    "时间",
    "处方号",
    "审核结论",
    "审方药师",
    "理由代码",
    "理由",
    "开方医师签名",
    "涉及规则",
    "审核编号",
)


def decision_rows(
    store: Store, *, since: str = "", until: str = "", person: str = "", decision: str = "", limit: int = 1000
) -> list[list[Any]]:
    """Past decisions, newest first (:data:`DECISION_COLUMNS`), filtered by date (``YYYY-MM-DD``, both ends
    included, local to the store's UTC times), by a person (审方药师 or 开方医师签名 containing the text)
    and by decision code."""
    from datetime import date

    from toolkit.service.decisions import decision_log

    def day(text: str, label: str) -> date | None:
        text = (text or "").strip()
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError as exc:
            raise InputError(f"「{label}」应为日期，如 2026-12-07，实际为 '{text}'", field=label) from exc

    start, end = day(since, "起始日期"), day(until, "截止日期")
    if decision and decision not in DECISIONS:
        raise InputError(f"未知的审核结论「{decision}」", field="decision")
    found = decision_log(store, since=start, until=end, person=person, decision=decision, limit=limit)
    return [
        [
            d.created_at.strftime("%Y-%m-%d %H:%M"),
            case_id,
            DECISIONS.get(d.decision, d.decision),
            d.pharmacist,
            _reason_display(d.reason_code),
            d.reason or "",
            d.prescriber or "",
            "、".join(d.rule_ids or []),
            d.audit_id,
        ]
        for d, case_id in found
    ]


def export_decisions(rows: Sequence[Sequence[Any]], out_dir: str | Path) -> tuple[Path, Path]:
    """The decisions shown as ``审核决定.csv`` (UTF-8 with BOM, opens in Excel) and ``审核决定.xlsx``; every
    cell formula-safe (text starting with = + - @ is written as text: the OWASP CSV-injection rule)."""
    import csv

    from toolkit.batch.report import neutralise

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    safe = [[neutralise(c) for c in r] for r in rows]
    csv_path, xlsx_path = out / "审核决定.csv", out / "审核决定.xlsx"
    with csv_path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(DECISION_COLUMNS)
        writer.writerows(safe)
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "审核决定"
    ws.append(list(DECISION_COLUMNS))
    for r in safe:
        ws.append(list(r))
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula, whatever the text
    wb.save(xlsx_path)
    return csv_path, xlsx_path


# --------------------------------------------------------------------------- voice tab

LIVE_STATUS = "录音中，边录边识别：文末有“…”时最后一句为暂定文字，停止录音后定稿并生成病历"
"""What the voice tab says while a microphone recording is transcribed live."""


ENTITY_ZH = {
    "symptom": "症状",
    "disease": "疾病",
    "drug": "药品",
    "strength": "规格",
    "dose": "剂量",
    "frequency": "频次",
    "route": "途径",
    "duration": "疗程",
    "vital": "体征",
    "lab": "检验",
    "allergen": "过敏原",
    "body_part": "部位",
}
"""Entity label → Chinese label shown in the highlighted transcript."""

DIAGNOSIS_COLUMNS = ("诊断", "ICD-10", "来源")
"""Columns of the diagnosis table (name, ICD-10 code, where it was said)."""

CORRECTION_KINDS = {
    "drug": "药名同音",
    "disease": "疾病名",
    "symptom": "症状",
    "exam": "检查",
    "record": "病历用语",
    "usage": "用法",
    "form": "剂型",
    "unit": "单位",
    "segment": "整句重读",
    "number": "数字",
}
"""Correction kind → what sort of correction the doctor is looking at."""

_NUMBER_CHARS = set("零〇一二三四五六七八九十百千万两点0123456789.")


def correction_kind(original: str, corrected: str, kind: str) -> str:
    """The label of a correction: a change that only touches numerals (舞→五, 舞毫克→五毫克) is 数字,
    whatever lexicon kind matched it; otherwise the kind's label."""
    changed = [c for o, c in zip(original, corrected, strict=False) if o != c]
    if len(original) == len(corrected) and changed and all(c in _NUMBER_CHARS for c in changed):
        return CORRECTION_KINDS["number"]
    return CORRECTION_KINDS.get(kind, "术语")


def correction_choices(transcript: Transcript) -> list[tuple[str, int]]:
    """(label, index) per ASR correction, e.g. ``('二甲双呱 → 二甲双胍（药名同音，3.2 秒）', 0)``; the time is
    left out when the clip is one segment (every correction would read 0.0 秒)."""
    timed = len(transcript.segments) > 1
    out = []
    for i, c in enumerate(transcript.corrections):
        what = correction_kind(c.original, c.corrected, c.kind)
        when = f"，{c.start:.1f} 秒" if timed else ""
        out.append((f"{c.original} → {c.corrected}（{what}{when}）", i))
    return out


def warnings_markdown(transcript: Transcript) -> str:
    """The ASR warnings as a short Markdown list (empty string when there are none)."""
    return "\n".join(
        f"- ⚠️ {w.message}"
        + (f"（{w.start:.1f}–{w.end:.1f} 秒）" if w.start is not None and w.end is not None else "")
        for w in transcript.warnings
    )


KEEP_HEARD = "保留原文"
"""The last choice of every drug name to confirm: the text as heard, no drug name put in."""


@dataclass(frozen=True)
class DrugConfirmation:
    """One drug name for the doctor to confirm (药名待确认): a drug correction the corrector was unsure of
    (scored below :data:`toolkit.visit.LOW_CONFIDENCE`, or other drugs about as close), or a place it left
    as heard because two drugs fitted equally. ``key`` is ``c<n>`` (``Transcript.corrections[n]``) or
    ``u<n>`` (``Transcript.uncertain[n]``); ``choices`` are (label, value) pairs: the current name first,
    then the alternatives, then 保留原文 (value: the text as heard); ``value`` is what the text says now."""

    key: str
    label: str
    choices: tuple[tuple[str, str], ...]
    value: str


def drug_confirmations(transcript: Transcript | None, kept: Iterable[int] = ()) -> list[DrugConfirmation]:
    """The 药名待确认 list of the voice tab, in the order the names were said (``kept``: the ticked
    corrections; an unticked one currently reads as heard)."""
    if transcript is None:
        return []
    from toolkit.visit import LOW_CONFIDENCE

    keep = set(kept)
    timed = len(transcript.segments) > 1
    found: list[tuple[int, DrugConfirmation]] = []
    for i, c in enumerate(transcript.corrections):
        if c.kind != "drug" or not (c.alternatives or c.score < LOW_CONFIDENCE):
            continue
        names = list(dict.fromkeys([c.corrected, *c.alternatives]))
        when = f"，{c.start:.1f} 秒" if timed else ""
        how = "已确认" if "；医师确认" in c.reason else "识别为"  # see confirm_drug
        found.append(
            (
                c.offset,
                DrugConfirmation(
                    key=f"c{i}",
                    label=f"听到“{c.original}”（{how}“{c.corrected}”{when}）",
                    choices=(*((n, n) for n in names), (f"{KEEP_HEARD}“{c.original}”", c.original)),
                    value=c.corrected if i in keep else c.original,
                ),
            )
        )
    for j, u in enumerate(transcript.uncertain):
        when = f"，{u.start:.1f} 秒" if timed else ""
        found.append(
            (
                u.offset,
                DrugConfirmation(
                    key=f"u{j}",
                    label=f"听到“{u.original}”（几种药名同样接近，未更正{when}）",
                    choices=(
                        *((n, n) for n in dict.fromkeys(u.alternatives) if n != u.original),
                        (f"{KEEP_HEARD}“{u.original}”", u.original),
                    ),
                    value=u.original,
                ),
            )
        )
    return [d for _, d in sorted(found, key=lambda x: x[0])]


def today() -> str:
    """Today's date (ISO) for the header's 日期 box."""
    from datetime import date

    return date.today().isoformat()


def facts_markdown(draft: Visit) -> str:
    """The structured facts the audit used, as read from the record as edited (shown under the boxes)."""
    p = draft.case.patient
    sex = {"M": "男", "F": "女"}.get(p.sex or "", "未知")
    age = f"{p.age:g} 岁" if p.age is not None else "未知"
    allergies = "、".join(p.allergies) or "无记录"
    dx = "、".join(d.name for d in p.diagnoses) or "无"
    # 在用药品: drugs the history says the patient takes (not prescribed now), checked against the lines
    current = "、".join(p.current_medications) or "无记录"
    edited = draft.provenance.edited_sections
    tail = f"（已按修改重读：{'、'.join(edited)}）" if edited else ""
    lines = [
        f"**审核所用信息**：性别 {sex}；年龄 {age}；过敏 {_md(allergies)}；诊断/病史 {_md(dx)}；"
        f"在用药品 {_md(current)}{tail}"
    ]
    for u in draft.uncertain:  # low-confidence drug names from speech: the doctor confirms or picks another
        alts = "、".join(u.alternatives) or "无"
        when = f"（{u.start_s:.1f} 秒）" if u.start_s is not None else ""
        lines.append(
            f"- ⚠️ 请确认药名：听到“{_md(u.heard)}”，识别为“{_md(u.chosen)}”{when}；相近药名：{_md(alts)}"
            "（如不对，请在“药名待确认”中选择，或取消该更正、在处方表中修改）"
        )
    return "\n".join(lines)


def _md(text: str) -> str:
    return html.escape(text).replace("*", "\\*").replace("_", "\\_")


def section_values(draft: Visit) -> dict[str, str]:
    """Text for every section box (RECORD_SECTIONS order); 健康指导/随访 come from the care plan when
    the dictation did not say them."""
    values = {name: draft.case.record.get(name, "") for name in RECORD_SECTIONS}
    for name, text in draft.plan.to_record_fields().items():
        if not values.get(name):
            values[name] = text
    return values


def highlight(text: str, entities: Sequence[Entity]) -> list[tuple[str, str | None]]:
    """(fragment, Chinese label or None) pieces covering ``text``, for a highlighted-text widget.

    Overlapping entities keep the first (by start, then the longest); negated mentions are marked.
    """
    out: list[tuple[str, str | None]] = []
    pos = 0
    for e in sorted(entities, key=lambda e: (e.start, -(e.end - e.start))):
        if e.start < pos or e.end > len(text):
            continue
        if e.start > pos:
            out.append((text[pos : e.start], None))
        label = ENTITY_ZH.get(e.label.value, e.label.value)
        out.append((text[e.start : e.end], f"{label}(否定)" if e.negated else label))
        pos = e.end
    if pos < len(text):
        out.append((text[pos:], None))
    return out


def diagnosis_rows(record: OutpatientRecord) -> list[list[str]]:
    """One row per diagnosis of the visit and per condition mentioned elsewhere, with its ICD-10 code."""
    rows = [[d.name, d.icd10 or "（未编码）", "诊断"] for d in record.diagnoses]
    rows += [[d.name, d.icd10 or "（未编码）", "病史"] for d in record.history]
    return rows


def table_cell(value: Any) -> Any:
    """A value as a table or form cell: empty for ``None``, a whole float as an int (``5.0`` → ``5``)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def item_rows(items: Iterable[PrescriptionItem]) -> list[list[Any]]:
    """Prescription items as rows of :data:`toolkit.demo_api.ITEM_COLUMNS` (empty cells for what was not said)."""
    return [[table_cell(getattr(it, f)) for f in ITEM_FIELDS] for it in items]
