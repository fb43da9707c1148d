"""The 处方审核 form: its values as an :class:`~toolkit.records.AuditCase` and back, pasted JSON, and the
examples it offers; the voice tab's header form as a :class:`~toolkit.visit.Header` — no gradio.

Moved here from the library root (issue 15): only the Gradio views (``demo/app.py``) use them. The
drug table's rows are read by :func:`toolkit.demo_api.items_from_rows`, the one rule the voice tab's
table uses too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from toolkit.demo_api import ITEM_COLUMNS, items_from_rows
from toolkit.demo_app.views import item_rows, table_cell
from toolkit.errors import InputError
from toolkit.records import AuditCase, Diagnosis, Patient, Prescription
from toolkit.visit import Header

# --------------------------------------------------------------------------- the 处方审核 form


@dataclass(frozen=True)
class PrescriptionForm:
    """The 处方审核 form. ``diagnoses`` is free text like '原发性高血压 I10；2型糖尿病 E11.9'."""

    case_id: str = "处方-1"
    age: float | None = None
    sex: str | None = None
    weight_kg: float | None = None
    pregnant: bool = False
    lactating: bool = False
    allergies: str = ""
    diagnoses: str = ""
    labs: Mapping[str, float | None] = field(default_factory=dict)
    items: Sequence[Sequence[Any]] = ()
    kind: str | None = None
    prescriber: str = ""
    extra_json: str = ""


def case_from_json(text: str, default_id: str = "处方-1") -> AuditCase:
    """An :class:`AuditCase` from pasted JSON (``id`` optional); errors name the field path."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"JSON 格式错误：第{exc.lineno}行第{exc.colno}列 {exc.msg}", field="json") from exc
    if not isinstance(data, dict):
        raise InputError("JSON 应为一个对象 {…}（一张处方）", field="json")
    data.setdefault("id", default_id)
    try:
        return AuditCase.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{loc}: {err['msg']}（共 {exc.error_count()} 处错误）", field=loc) from exc


def _diagnoses(text: str) -> tuple[Diagnosis, ...]:
    from toolkit.batch.readers import parse_diagnoses

    return tuple(Diagnosis(**d) for d in parse_diagnoses(text))


def case_from_form(form: PrescriptionForm) -> AuditCase:
    """The form as an :class:`AuditCase`; ``extra_json`` (a JSON object of AuditCase fields, e.g.
    ``{"patient": {"labs": {"hba1c": 8.1}}, "record": {...}}``) is merged over it, patient fields one by one."""
    try:
        patient = Patient(
            age=form.age,
            sex=form.sex or None,
            weight_kg=form.weight_kg or None,
            pregnant=form.pregnant or None,
            lactating=form.lactating or None,
            allergies=form.allergies,
            diagnoses=_diagnoses(form.diagnoses),
            labs={k: v for k, v in form.labs.items() if v is not None},
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = "patient." + ".".join(str(p) for p in err["loc"])
        raise InputError(f"{loc}: {err['msg']}", field=loc) from exc
    items = items_from_rows(form.items)
    data: dict[str, Any] = {
        "id": form.case_id or "处方-1",
        "patient": patient.model_dump(exclude_none=True),
        "prescription": Prescription(
            items=items,
            kind=form.kind or None,  # type: ignore[arg-type]
            prescriber=form.prescriber or None,
        ).model_dump(exclude_none=True),
    }
    if form.extra_json.strip():
        case_from_json(form.extra_json, default_id=data["id"])  # reports the field path of any error
        extra = json.loads(form.extra_json)
        for key, value in extra.items():
            if key in {"patient", "prescription"} and isinstance(value, dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
    return case_from_json(json.dumps(data, ensure_ascii=False), default_id=data["id"])


# --------------------------------------------------------------------------- examples


def _it(drug: str, strength: str, dose: float, unit: str, frequency: str, days: float) -> dict[str, Any]:
    return {
        "drug": drug,
        "strength": strength,
        "dose": dose,
        "unit": unit,
        "frequency": frequency,
        "route": "口服",
        "days": days,
    }


DEMO_EXAMPLES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "ACEI+ARB 联用",
        "示例-ACEI+ARB",
        {
            "patient": {
                "age": 63,
                "sex": "M",
                "diagnoses": [{"name": "原发性高血压", "icd10": "I10"}],
                "labs": {"egfr": 70, "potassium": 4.6},
            },
            "prescription": {
                "prescriber": "王医生",
                "items": [
                    _it("马来酸依那普利片", "10 mg", 10, "mg", "qd", 28),
                    _it("缬沙坦胶囊", "80 mg", 80, "mg", "qd", 28),
                ],
            },
        },
    ),
    (
        "肾功能不全（eGFR 25 用二甲双胍）",
        "示例-肾功能不全",
        {
            "patient": {
                "age": 70,
                "sex": "F",
                "diagnoses": [{"name": "2型糖尿病", "icd10": "E11.9"}],
                "labs": {"egfr": 25},
            },
            "prescription": {
                "prescriber": "李医生",
                "items": [_it("盐酸二甲双胍片", "0.5 g", 0.5, "g", "tid", 28)],
            },
        },
    ),
    (
        "青霉素过敏（开阿莫西林）",
        "示例-青霉素过敏",
        {
            "patient": {
                "age": 35,
                "sex": "F",
                "allergies": ["青霉素"],
                "diagnoses": [{"name": "急性扁桃体炎", "icd10": "J03.9"}],
            },
            "prescription": {
                "prescriber": "张医生",
                "items": [_it("阿莫西林胶囊", "0.25 g", 0.5, "g", "tid", 5)],
            },
        },
    ),
    (
        "华法林 + NSAID（出血风险）",
        "示例-华法林+NSAID",
        {
            "patient": {
                "age": 68,
                "sex": "M",
                "diagnoses": [{"name": "心房颤动", "icd10": "I48"}, {"name": "膝骨关节炎", "icd10": "M17.9"}],
            },
            "prescription": {
                "prescriber": "王医生",
                "items": [
                    _it("华法林钠片", "2.5 mg", 2.5, "mg", "qd", 14),
                    _it("布洛芬缓释胶囊", "0.3 g", 0.3, "g", "bid", 7),
                ],
            },
        },
    ),
    (
        "老年人多重用药（84 岁，5 种药）",
        "示例-老年多重用药",
        {
            "patient": {
                "age": 84,
                "sex": "F",
                "labs": {"egfr": 48},
                "diagnoses": [
                    {"name": "原发性高血压", "icd10": "I10"},
                    {"name": "2型糖尿病", "icd10": "E11.9"},
                    {"name": "失眠", "icd10": "G47.0"},
                ],
            },
            "prescription": {
                "prescriber": "李医生",
                "items": [
                    _it("苯磺酸氨氯地平片", "5 mg", 5, "mg", "qd", 28),
                    _it("格列本脲片", "2.5 mg", 2.5, "mg", "bid", 28),
                    _it("地西泮片", "2.5 mg", 5, "mg", "qn", 14),
                    _it("阿司匹林肠溶片", "100 mg", 100, "mg", "qd", 28),
                    _it("阿托伐他汀钙片", "20 mg", 20, "mg", "qn", 28),
                ],
            },
        },
    ),
    (
        "过敏原写法未识别（PCN）",
        "示例-过敏原未识别",
        {
            "patient": {
                "age": 40,
                "sex": "M",
                "allergies": ["PCN"],
                "diagnoses": [{"name": "急性扁桃体炎", "icd10": "J03.9"}],
            },
            "prescription": {
                "prescriber": "张医生",
                "items": [_it("阿莫西林胶囊", "0.25 g", 0.5, "g", "tid", 5)],
            },
        },
    ),
    (
        "合理处方（通过）",
        "示例-通过",
        {
            "patient": {"age": 52, "sex": "M", "diagnoses": [{"name": "原发性高血压", "icd10": "I10"}]},
            "prescription": {
                "prescriber": "张医生",
                "items": [_it("苯磺酸氨氯地平片", "5 mg", 5, "mg", "qd", 28)],
            },
        },
    ),
)
"""The 处方审核 tab's examples, each named by what it shows: (title, 处方号, case fields)."""


def demo_examples() -> list[tuple[str, AuditCase]]:
    """(title, case) of every :data:`DEMO_EXAMPLES` entry."""
    return [
        (title, AuditCase.model_validate({"id": case_id, **data})) for title, case_id, data in DEMO_EXAMPLES
    ]


FORM_LABS = ("egfr", "potassium", "alt", "hba1c")
"""The labs that have their own box on the form (others go to the 补充 JSON)."""


def form_values(case: AuditCase) -> dict[str, Any]:
    """The 处方审核 form filled from ``case``: every box, the drug table, and what the form has no box for
    (other labs, the record) as 补充 JSON."""
    p, rx = case.patient, case.prescription
    labs = dict(p.labs or {})
    extra: dict[str, Any] = {}
    other_labs = {k: v for k, v in labs.items() if k not in FORM_LABS}
    if other_labs:
        extra["patient"] = {"labs": other_labs}
    if case.record:
        extra["record"] = (
            case.record.model_dump(mode="json", exclude_none=True)
            if hasattr(case.record, "model_dump")
            else case.record
        )
    return {
        "case_id": case.id,
        "age": table_cell(p.age),
        "sex": p.sex or "",
        "weight": table_cell(p.weight_kg),
        "pregnant": bool(p.pregnant),
        "lactating": bool(p.lactating),
        "allergies": "；".join(p.allergies),
        "diagnoses": "；".join(f"{d.name} {d.icd10}".strip() if d.icd10 else d.name for d in p.diagnoses),
        "labs": [table_cell(labs.get(k)) for k in FORM_LABS],
        "kind": rx.kind or "",
        "prescriber": rx.prescriber or "",
        "items": item_rows(rx.items) or [[""] * len(ITEM_COLUMNS)],
        "extra": json.dumps(extra, ensure_ascii=False) if extra else "",
    }


# --------------------------------------------------------------------------- the voice tab's header


def header_from_form(
    name: str = "",
    sex: str = "",
    age: Any = None,
    department: str = "",
    visit_date: str = "",
    doctor: str = "",
) -> Header:
    """The header fields as typed (empty means not given)."""
    return Header(
        name=(name or "").strip() or None,
        sex=(sex or None),
        age=parse_number(age, "年龄"),  # type: ignore[arg-type]
        department=(department or "").strip() or None,
        date=(visit_date or "").strip() or None,
        doctor=(doctor or "").strip() or None,
    )


def parse_number(value: Any, label: str) -> float | None:
    """A form field as a number; empty means *not known* (never 0: an eGFR of 0 is a finding)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(str(value).strip())
    except ValueError as exc:
        raise InputError(f"「{label}」应为数字，实际为 '{value}'", field=label) from exc
    if number != number:
        raise InputError(f"「{label}」应为数字", field=label)
    return number
