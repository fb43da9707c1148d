"""The one vocabulary of labels a person reads: statuses, severities, categories, 点评 classes, coverage.

Machines read the English codes (JSON keys, enum values, FHIR codes); people read these Chinese labels.
Every report, the CLI, the FHIR/CDS displays and the demo take their labels from here, so one concept
never has two names.

Terms follow the documents a Chinese pharmacist works with:

- categories: 《医院处方点评管理规范（试行）》(卫医管发〔2010〕28号) and 《医疗机构处方审核规范》
  (国卫办医发〔2018〕14号). "适应证" as in 点评规范 第十八条(一) "适应证不适宜"; "禁忌证" as in
  全国科学技术名词审定委员会 医学名词 (the 说明书 heading is 【禁忌】, which covers the same content);
  "处方格式" for 审核规范 第十四条 (规范性审核: 处方"是否符合规定的标准和格式"). The older copies
  处方书写规范 / 禁忌症 / 禁忌 / 适应症 are retired.
- severities: 拦截 / 警示 / 提示 (the three levels of 前置审核 systems: block the prescription, warn the
  prescriber, inform); statuses: 通过 / 需干预 / 需人工审核 / 无法审核.
- coverage: which checks ran for a drug line (完整审核, 仅类别规则, 未收录).
"""

from __future__ import annotations

from toolkit.records import Category, DianpingClass, Severity

STATUS_LABELS: dict[str, str] = {
    "ok": "通过",
    "flagged": "需干预",
    "needs_review": "需人工审核",
    "error": "无法审核",
}
"""Case status → label. A row that could not be read is also ``error``: see :data:`ROW_STATUS_LABELS`."""

ROW_STATUS_LABELS: dict[str, str] = {**STATUS_LABELS, "error": "错误"}
"""Row status → label (a row is an input error, a case is one that could not be audited)."""

SEVERITY_LABELS: dict[Severity, str] = {Severity.BLOCK: "拦截", Severity.WARN: "警示", Severity.INFO: "提示"}

CATEGORY_LABELS: dict[Category, str] = {
    Category.FORMAT: "处方格式",
    Category.DOSE: "剂量",
    Category.FREQUENCY: "给药频次",
    Category.ROUTE: "给药途径",
    Category.DAYS_SUPPLY: "用药天数",
    Category.LONG_PRESCRIPTION: "长期处方",
    Category.INTERACTION: "相互作用",
    Category.DUPLICATE_THERAPY: "重复用药",
    Category.CONTRAINDICATION: "禁忌证",
    Category.ALLERGY: "过敏",
    Category.SPECIAL_POPULATION: "特殊人群",
    Category.INDICATION: "适应证",
    Category.SKIN_TEST: "皮试",
    Category.RECORD: "病历",
}

DIANPING_LABELS: dict[DianpingClass, str] = {c: c.value for c in DianpingClass}
"""处方点评 classes (the enum values are already the regulation's Chinese names)."""

COVERAGE_LEVELS = ("full", "class", "none")
COVERAGE_LABELS: dict[str, str] = {"full": "完整审核", "class": "仅类别规则", "none": "未收录"}
"""Which checks ran for a drug line (``AuditReport.coverage``)."""

MATCH_KINDS = ("exact", "stripped", "contained", "homophone", "typo", "code")
MATCH_LABELS: dict[str, str] = {
    "exact": "名称精确",
    "stripped": "去剂型/盐基后精确",
    "contained": "名称包含",
    "homophone": "同音字",
    "typo": "错别字",
    "code": "药品编码",
}
"""How a written drug name was matched to the knowledge base (``NameMatch.kind``)."""

INPUT_ERRORS: dict[str, str] = {
    "file_not_found": "找不到文件",
    "empty_drug": "药品名称为空",
    "empty_rx_id": "处方号为空",
    "not_a_number": "不是数字",
    "not_yes_no": "不是 是/否（1/0）",
    "bad_age": "无法识别的年龄（示例：76、76岁、8月、3天、2周、1岁3个月）",
    "bad_date": "无法识别的日期（应为 YYYY-MM-DD）",
    "too_many_cells": "该行单元格数多于表头",
    "missing_columns": "缺少必需的列",
    "unmapped_column": "未识别的列（已忽略）",
    "unknown_lab": "未识别的检验项目（已作为备注保留，未参与审核）",
    "bad_encoding": "含有不符合文件编码（UTF-8 或 GBK）的字节",
    "bad_json": "不是有效的 JSON",
    "unknown_suffix": "无法从文件后缀判断报告格式",
}
"""The Chinese wording of common input errors (key → text)."""


FIELD_LABELS: dict[str, str] = {
    "rx_id": "处方号",
    "kind": "处方类型",
    "prescriber": "医生",
    "department": "科室",
    "date": "开方日期",
    "patient_id": "患者ID",
    "age": "年龄",
    "birth_date": "出生日期",
    "sex": "性别",
    "weight_kg": "体重",
    "pregnant": "妊娠",
    "lactating": "哺乳",
    "allergies": "过敏史",
    "current_medications": "在用药品",
    "diagnoses": "诊断",
    "icd10": "诊断编码",
    "drug": "药品名称",
    "code": "药品编码",
    "strength": "规格",
    "dose": "单次剂量",
    "unit": "剂量单位",
    "frequency": "频次",
    "route": "给药途径",
    "usage": "用法用量",
    "days": "用药天数",
    "quantity": "数量",
    "quantity_unit": "数量单位",
    "skin_test": "皮试结果",
    "note": "备注",
}
"""Input field → the column name a pharmacist knows it by (used in error messages)."""


def field_label(name: str) -> str:
    """``'dose'（单次剂量）``: the machine name and, when there is one, its Chinese name."""
    zh = FIELD_LABELS.get(name)
    return f"'{name}'（{zh}）" if zh else f"'{name}'"


_PHRASES = {
    "file not found": INPUT_ERRORS["file_not_found"],
    "a case must be a JSON object": "病例必须是 JSON 对象",
    "a drug line must be an object": "药品行必须是 JSON 对象",
}


def error_text(message: str) -> str:
    """An error message for a person: the location :class:`toolkit.errors.InputError` writes in English
    for the JSON contract (``file X row N field 'f': …``) in Chinese (``文件 X 第 N 行 字段 'f'：…``)."""
    import re

    text = str(message)
    m = re.match(
        r"(?:file (?P<file>[^\s:]+))?\s*(?:row (?P<row>[^\s:]+))?\s*(?:field (?P<field>'[^']*'))?: ", text
    )
    if m and any(m.group(g) for g in ("file", "row", "field")):
        where = " ".join(
            x
            for x in (
                f"文件 {m.group('file')}" if m.group("file") else "",
                f"第 {m.group('row')} 行" if m.group("row") else "",
                f"字段 {m.group('field')}" if m.group("field") else "",
            )
            if x
        )
        rest = text[m.end() :]
        text = f"{where}：{_PHRASES.get(rest, rest)}"
    text = re.sub(r"field ('[^']*'(?:（[^）]*）)?): ", r"字段 \1：", text)
    return _PHRASES.get(text, text).replace("; ", "；")


def status_label(status: str, *, row: bool = False) -> str:
    """The Chinese label of a case status, or of a row status with ``row`` (KeyError if unknown)."""
    return (ROW_STATUS_LABELS if row else STATUS_LABELS)[status]


def severity_label(severity: str | Severity | None) -> str:
    """The Chinese label of a severity; an empty string for None or an empty value."""
    return SEVERITY_LABELS[Severity(severity)] if severity else ""


def category_label(category: str | Category) -> str:
    """A category's label; an unknown code comes back unchanged (never an exception in a report)."""
    try:
        return CATEGORY_LABELS[Category(category)]
    except ValueError:
        return str(category)


def coverage_label(level: str) -> str:
    """The Chinese label of a coverage level (full, class, none); an unknown level comes back unchanged."""
    return COVERAGE_LABELS.get(level, level)
