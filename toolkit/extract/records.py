"""Records the extractor returns: entities with offsets, sections, and the structured outpatient record.

All records are frozen pydantic models with ``extra="forbid"`` (they are also read back from
JSON by the demo and the service). Offsets are character offsets into the input text, so
``text[entity.start:entity.end] == entity.text`` always holds.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from toolkit.records import (
    RECORD_SECTIONS,
    AuditCase,
    Diagnosis,
    Patient,
    Prescription,
    PrescriptionItem,
    Record,
    Vitals,
)


class EntityLabel(StrEnum):
    """Closed set of entity labels (the `clinic extract` contract)."""

    SYMPTOM = "symptom"
    DISEASE = "disease"
    DRUG = "drug"
    STRENGTH = "strength"
    DOSE = "dose"
    FREQUENCY = "frequency"
    ROUTE = "route"
    DURATION = "duration"
    VITAL = "vital"
    LAB = "lab"
    ALLERGEN = "allergen"
    BODY_PART = "body_part"


class Entity(Record):
    """One mention in the input text.

    ``normalized`` is the value in data form: a formulary drug id, an ICD-10 code, a strength
    ('5 mg'), a dose ('1 片'), a frequency code ('bid'), a route ('口服'), days ('30'), or
    measurements ('sbp=160;dbp=95', 'fpg=7.8'); ``None`` when the mention could not be normalised.
    """

    label: EntityLabel
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    normalized: str | None = None
    negated: bool = False
    source: Literal["lexicon", "rule", "model"] = "rule"
    section: str | None = None

    @model_validator(mode="after")
    def _span(self) -> Entity:
        if self.end <= self.start or len(self.text) != self.end - self.start:
            raise ValueError(f"entity span {self.start}:{self.end} does not match its text {self.text!r}")
        return self

    def contract_dict(self) -> dict[str, Any]:
        """The stable JSONL shape: label, start, end, text, normalized."""
        return {
            "label": self.label.value,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "normalized": self.normalized,
        }


class Section(Record):
    """A record section (病历书写基本规范) found in the dictation, with its character span."""

    name: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    cue: str | None = Field(default=None, description="the words that opened the section, if any")


class ExtractedItem(Record):
    """One prescription line as dictated; what was not said stays ``None`` (never guessed)."""

    drug: str = Field(description="the drug name as dictated")
    drug_id: str | None = Field(default=None, description="formulary id, None when not in the formulary")
    strength: str | None = Field(default=None, description="per unit, canonical: '5 mg', '160/4.5 μg'")
    dose: float | None = None
    unit: str | None = None
    frequency: str | None = Field(
        default=None, description="code: qd, bid, tid, qid, qn, qw, prn, st, q12h …"
    )
    route: str | None = None
    days: float | None = None
    note: str | None = Field(default=None, description="timing said with the drug: 饭后, 餐前, 睡前 …")
    skin_test: str | None = Field(default=None, description="皮试结果 said with the drug: 阴性 / 阳性 / 免试")
    start: int = Field(ge=0, description="offset of the drug mention")
    end: int = Field(ge=0, description="end offset of the last part of this item")

    def to_prescription_item(self, line: int | None = None) -> PrescriptionItem:
        """The audit's item; the drug is sent as dictated so the audit can judge how it was written (a
        colloquial short name as its full name: :func:`toolkit.extract.lexicon.prescription_name`)."""
        from toolkit.extract.lexicon import prescription_name

        return PrescriptionItem(
            drug=prescription_name(self.drug),
            strength=self.strength,
            dose=self.dose,
            unit=self.unit,
            frequency=self.frequency,
            route=self.route,
            days=self.days,
            note=self.note,
            skin_test=self.skin_test,
            line=line,
        )


class ExtractProvenance(Record):
    """What produced an extraction: KB version, spaCy pipe names, lexicon sizes, the options set."""

    kb_version: str
    pipeline: tuple[str, ...]
    lexicons: dict[str, int] = Field(default_factory=dict, description="entries per lexicon")
    options: dict[str, Any] = Field(default_factory=dict)


class OutpatientRecord(Record):
    """The structured outpatient record drafted from one dictation."""

    text_length: int = Field(ge=0)
    visit_type: Literal["初诊", "复诊"] | None = None
    age: float | None = Field(default=None, ge=0, le=130)
    sex: Literal["M", "F"] | None = None
    pregnant: bool | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    sections: tuple[Section, ...] = ()
    entities: tuple[Entity, ...] = ()
    vitals: Vitals = Field(default_factory=Vitals)
    labs: dict[str, float] = Field(default_factory=dict)
    diagnoses: tuple[Diagnosis, ...] = Field(default=(), description="from the 诊断 section")
    history: tuple[Diagnosis, ...] = Field(default=(), description="conditions said elsewhere, not negated")
    allergies: tuple[str, ...] = ()
    current_medications: tuple[str, ...] = Field(
        default=(),
        description="在用药品: drugs said as taken now (平时吃着华法林), as generic names where the lexicon "
        "knows them (toolkit.extract.current_meds); a drug also prescribed in this visit is listed here, the "
        "audit case takes those the items do not prescribe (unprescribed_medications)",
    )
    items: tuple[ExtractedItem, ...] = ()
    provenance: ExtractProvenance | None = None

    def section_texts(self) -> dict[str, str]:
        """Section name → text (sections said twice are joined), in RECORD_SECTIONS order."""
        out: dict[str, str] = {}
        for s in self.sections:
            out[s.name] = (out[s.name] + " " + s.text) if s.name in out else s.text
        return {k: out[k] for k in RECORD_SECTIONS if k in out}

    def unprescribed_medications(self) -> tuple[str, ...]:
        """``current_medications`` less the drugs the record's items prescribe (by formulary id or name): a
        drug taken at home and prescribed now is covered by its line."""
        if not self.current_medications:
            return ()
        from toolkit.extract.lexicon import prescription_name
        from toolkit.knowledge import get_knowledge

        names = get_knowledge().names
        ids = {it.drug_id for it in self.items if it.drug_id}
        said = {prescription_name(it.drug) for it in self.items} | {it.drug for it in self.items}
        for it in self.items:
            if (
                not it.drug_id
                and (m := names.resolve(it.drug)) is not None
                and m.kind in ("exact", "stripped")
            ):
                ids.add(m.drug_id)
        out = []
        for name in self.current_medications:
            m = names.resolve(name)
            if name in said or (m is not None and m.drug_id in ids):
                continue
            out.append(name)
        return tuple(out)

    def to_audit_case(self, id: str, **overrides: Any) -> AuditCase:
        """The audit's input: patient (age, sex, weight, pregnancy, allergies, diagnoses incl. history,
        labs), the prescription items, the record sections and the vitals. ``overrides`` replace
        top-level AuditCase fields (e.g. ``visit_date``)."""
        diagnoses: list[Diagnosis] = []
        seen: set[tuple[str, str | None]] = set()
        for d in (*self.diagnoses, *self.history):
            key = (d.name, d.icd10)
            if key not in seen:
                seen.add(key)
                diagnoses.append(d)
        patient = Patient(
            age=self.age,
            sex=self.sex,
            weight_kg=self.weight_kg,
            height_cm=self.height_cm,
            pregnant=self.pregnant,
            allergies=self.allergies,
            diagnoses=tuple(diagnoses),
            labs=dict(self.labs),
            current_medications=self.unprescribed_medications(),
        )
        prescription = Prescription(
            items=tuple(it.to_prescription_item(line=i + 1) for i, it in enumerate(self.items))
        )
        data: dict[str, Any] = {
            "id": id,
            "patient": patient,
            "prescription": prescription,
            "record": self.section_texts(),
            "vitals": self.vitals,
            "visit_type": self.visit_type,
        }
        data.update(overrides)
        return AuditCase(**data)

    def to_fhir(self, patient_id: str = "patient", encounter_id: str = "encounter") -> dict[str, Any]:
        """A FHIR R4B ``document`` Bundle (Composition first) as JSON-ready dict; needs the ``[service]`` extra."""
        from toolkit.extract.fhir import record_to_fhir_bundle

        return record_to_fhir_bundle(self, patient_id=patient_id, encounter_id=encounter_id)

    def contract_dict(self) -> dict[str, Any]:
        """The `record` object of the JSONL contract (entities are written next to it)."""
        data = self.model_dump(mode="json", exclude={"entities"})
        data["record"] = self.section_texts()
        return data
