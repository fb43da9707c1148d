"""Schemas of the knowledge-base files in ``rules/`` (see rules/README.md).

Every model forbids unknown keys, so a typo in a rule file is an error naming
the file, the entry and the field, never a silently ignored threshold.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from toolkit.knowledge.conditions import ICD_SPEC, Condition
from toolkit.records import Category, DianpingClass, Severity


def _icd_spec(v: str) -> str:
    if not ICD_SPEC.fullmatch(v):
        raise ValueError(f"'{v}' is not an ICD-10 code, prefix or range like I20-I25")
    return v


IcdSpec = Annotated[str, AfterValidator(_icd_spec)]

RULE_ID = re.compile(r"RX-[A-Z]+(-[A-Z0-9]+)*-\d{3}")
DRUG_ID = re.compile(r"[a-z][a-z0-9_]*")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- formulary

MassUnit = Literal["mg", "μg", "g", "U", "ml", "IU"]
CountUnit = Literal["片", "粒", "丸", "袋", "支", "吸", "喷", "揿", "瓶", "贴", "滴", "包", "枚"]


class Form(_Spec):
    """A dosage form of a formulary drug (``forms[]``): its unit, strengths, routes and form-level limits."""

    form: str = Field(description="剂型, e.g. 片, 缓释片, 胶囊, 注射液, 吸入粉雾剂")
    unit: CountUnit | Literal["ml"] = Field(description="the countable unit a dose is written in")
    strengths: tuple[str, ...] = Field(
        default=(), description="per unit, e.g. '80 mg' or '80 mg/5 mg'; required on full entries"
    )
    routes: tuple[str, ...] = Field(min_length=1)
    brands: tuple[str, ...] = Field(default=(), description="brands that name this form (拜新同 → 控释片)")
    max_per_day: float | None = Field(default=None, gt=0, description="overrides the drug's frequency limit")
    min_per_day: float | None = Field(default=None, gt=0)
    dose: FormDose | None = Field(
        default=None, description="limits of this form that override the drug's (gliclazide MR 120 mg/d)"
    )
    elderly: PopulationNote | None = Field(
        default=None, description="an elderly note of this form only (nifedipine IR: Beers avoid)"
    )
    units_single_max: float | None = Field(
        default=None,
        gt=0,
        description="label maximum per dose counted in this form's unit, for products "
        "without mass limits (中成药: 一次4片 → 4)",
    )
    units_daily_max: float | None = Field(
        default=None, gt=0, description="label maximum per day in this form's unit (一次4片、一日3次 → 12)"
    )


class DoseLimit(_Spec):
    """Label dose limits of one population, per ingredient in the drug's ``dose.unit`` (None: no limit)."""

    single_max: float | None = Field(default=None, gt=0)
    daily_max: float | None = Field(default=None, gt=0)
    single_min: float | None = Field(default=None, gt=0)
    per_kg_daily_max: float | None = Field(default=None, gt=0, description="children: per kg per day")
    note: str | None = None


RenalMeasure = Literal["egfr", "crcl"]


class RenalLimit(DoseLimit):
    """Limits that apply when renal function is below a threshold, in the measure the label uses."""

    below: float = Field(gt=0, description="eGFR/CrCl (mL/min) below which these limits apply")
    measure: RenalMeasure = Field(
        default="egfr",
        description="what the label's threshold is: eGFR (mL/min/1.73m²) or Cockcroft–Gault "
        "CrCl (mL/min); the other measure is used only as a stated fallback",
    )


class MaintenanceLimit(_Spec):
    """A daily maximum for continued use: higher doses are a loading dose, allowed for ``loading_days``
    (or when the line says 负荷), e.g. clopidogrel 300/600 mg on day 1, then ≤ 75 mg/d."""

    daily_max: float = Field(gt=0)
    loading_days: float = Field(ge=0, description="days a higher (loading) dose may be given")
    note: str | None = None


class ToolLimit(DoseLimit):
    """A plausibility threshold set by this tool, not a label maximum (insulin U/kg/day, theophylline
    level monitoring); reported by RX-DOSE-008 with its own severity and this note."""

    severity: Literal["warn", "info"] = "warn"
    note: str = Field(min_length=1, description="why the tool asks (shown in the finding)")
    group: str | None = Field(
        default=None, description="ingredients sharing a group are summed for per_kg_daily_max (insulin)"
    )
    block_ratio: float | None = Field(
        default=None,
        gt=1,
        description="a value this many times the threshold is no plausible dose at all "
        "(U↔ml confusion is ×100): block instead of the severity",
    )


class FormDose(_Spec):
    """Form-level limits (per ingredient, in the drug's ``dose.unit``): each given field replaces the
    drug's adult/elderly value for a line of this form; renal limits still tighten them."""

    single_max: float | None = Field(default=None, gt=0)
    daily_max: float | None = Field(default=None, gt=0)
    note: str | None = None


class Dose(_Spec):
    """A drug's dose limits (formulary ``dose``): adult, elderly, child, renal, maintenance, tool."""

    unit: MassUnit = Field(description="the unit the limits below are in (per ingredient)")
    adult: DoseLimit | None = None
    elderly: DoseLimit | None = Field(default=None, description="age ≥ elderly_age; overrides adult")
    elderly_from: float | None = Field(
        default=None,
        gt=0,
        description="age from which `elderly` applies for this drug when the label "
        "names one (dabigatran: 80); default the meta elderly_age",
    )
    child: DoseLimit | None = None
    renal: tuple[RenalLimit, ...] = Field(default=(), description="stricter limits by renal function")
    maintenance: MaintenanceLimit | None = None
    tool: ToolLimit | None = Field(default=None, description="tool-set plausibility threshold (RX-DOSE-008)")
    usual: str | None = None


class Frequency(_Spec):
    """How often a drug may be taken per day (formulary ``frequency``); None means no limit."""

    max_per_day: float | None = Field(default=None, gt=0)
    min_per_day: float | None = Field(default=None, gt=0, description="below this the drug under-doses")
    usual: tuple[str, ...] = ()


PopulationLevel = Literal["contraindicated", "avoid", "caution", "compatible"]


class PopulationException(_Spec):
    """Another level when a diagnosis says why the drug is used (α1-blockers: Beers avoids them as
    antihypertensives, not for benign prostatic hyperplasia)."""

    icd10: tuple[IcdSpec, ...] = ()
    names: tuple[str, ...] = Field(default=(), description="diagnosis words, when no ICD-10 is given")
    level: PopulationLevel
    note: str = ""


class PopulationNote(_Spec):
    """A drug's note for one population (pregnancy, lactation, children, elderly) with its level."""

    level: PopulationLevel
    note: str = ""
    min_age: float | None = Field(default=None, description="children: below this age the note applies")
    references: tuple[str, ...] = ()
    unless: PopulationException | None = Field(
        default=None, description="the level and note when one of these diagnoses is present"
    )


Form.model_rebuild()  # Form names FormDose and PopulationNote, defined after it


class Ingredient(_Spec):
    """One ingredient of a combination product: the single-ingredient drug id and its strength unit."""

    drug: str = Field(description="id of the single-ingredient drug")
    unit: MassUnit


Tier = Literal["full", "class"]

CONTROLLED_CLASSES = frozenset({"narcotic", "psychotropic_1", "psychotropic_2"})
"""Class ids of 麻醉药品 and 第一/二类精神药品. A combination product never inherits them from its
ingredients: the catalogue lists compound preparations by their own announcements (含羟考酮复方制剂
2019年第63号, 含可待因复方口服液体制剂 2015年第10号 …), so the product states its class in `controlled`."""
Controlled = Literal["narcotic", "psychotropic_1", "psychotropic_2", "none"]


class Drug(_Spec):
    """A formulary entry (``rules/formulary/*.yaml`` ``drugs[]``): identity, forms, limits and notes."""

    id: str
    tier: Tier = Field(
        default="full",
        description="full: forms, strengths and dose limits, every check runs; class: identity, classes, "
        "forms/routes, population notes and class rules only (dose checks do not run)",
    )
    name: str = Field(description="normalised Chinese generic name, used in findings")
    en: str = ""
    atc: str | None = None
    classes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = Field(default=(), description="typos, homophones, old names")
    brands: tuple[str, ...] = ()
    salts: tuple[str, ...] = Field(default=(), description="salt-form names, e.g. 苯磺酸氨氯地平")
    near_names_reviewed: dict[str, str] = Field(
        default_factory=dict,
        description="alias → why it stays although it is one character from another "
        "drug's name (the load-time check otherwise rejects it)",
    )
    ingredients: tuple[Ingredient, ...] = Field(default=(), description="combination products only")
    forms: tuple[Form, ...] = Field(min_length=1)
    dose: Dose | None = None
    frequency: Frequency | None = None
    pregnancy: PopulationNote | None = None
    lactation: PopulationNote | None = None
    children: PopulationNote | None = None
    elderly: PopulationNote | None = None
    skin_test: bool = False
    long_rx_excluded: bool = Field(default=False, description="长期处方管理规范: may not be a long Rx")
    controlled: Controlled | None = Field(
        default=None,
        description="combination products only: the product's own 麻醉药品/精神药品 class (or none) under "
        "the catalogue and its announcements; replaces its ingredients' controlled classes, which are "
        "never inherited. Required (load-time check) when an ingredient is controlled",
    )
    acute_course: bool = Field(default=False, description="short-course drug: >7 days needs a reason")
    references: tuple[str, ...] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not DRUG_ID.fullmatch(v):
            raise ValueError("drug id must be lower-case ascii, digits and _ (e.g. valsartan)")
        return v

    @model_validator(mode="after")
    def _combination(self) -> Drug:
        if self.tier == "full":
            for form in self.forms:
                if not form.strengths:
                    raise ValueError(
                        f"form '{form.form}' of a full entry needs its strengths "
                        f"(or mark the entry tier: class)"
                    )
        for form in self.forms:
            if form.dose is not None and (self.ingredients or self.dose is None):
                raise ValueError(
                    f"form '{form.form}' carries dose limits: only a single-ingredient entry "
                    f"with a `dose` may (they are in its dose.unit)"
                )
        if self.controlled is not None and not self.ingredients:
            raise ValueError(
                "`controlled` is for combination products; a single drug lists its class in `classes`"
            )
        if self.ingredients and CONTROLLED_CLASSES.intersection(self.classes):
            raise ValueError(
                "a combination product states its 麻醉/精神药品 class in `controlled`, not in `classes` "
                f"(found {sorted(CONTROLLED_CLASSES.intersection(self.classes))})"
            )
        if self.ingredients:
            for form in self.forms:
                for s in form.strengths:
                    if len(s.split("/")) < len(self.ingredients):
                        raise ValueError(
                            f"strength '{s}' of a {len(self.ingredients)}-ingredient product must "
                            f"give one amount per ingredient, e.g. '80 mg/5 mg'"
                        )
        return self


class DrugClass(_Spec):
    """A node of the drug-class tree (``rules/formulary/classes.yaml``), with its ATC codes."""

    id: str
    name: str
    parent: str | None = None
    atc: tuple[str, ...] = ()


class FormularyFile(_Spec):
    """One file of ``rules/formulary/``: its drugs and/or classes."""

    drugs: tuple[Drug, ...] = ()
    classes: tuple[DrugClass, ...] = ()


# --------------------------------------------------------------------------- rules


class Target(_Spec):
    """Which drugs a rule applies to: by drug id and/or by class id (any ingredient matching)."""

    drugs: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _non_empty(self) -> Target:
        if not self.drugs and not self.classes:
            raise ValueError("a target needs drugs or classes")
        return self


class DianpingRef(_Spec):
    """The 处方点评 class and item a finding is filed under (``class`` in YAML)."""

    cls: DianpingClass = Field(alias="class")
    item: str
    title: str


class Escalation(_Spec):
    """A rule's escalation: the severity it takes when ``when`` holds."""

    when: Condition
    severity: Severity


class _Rule(_Spec):
    id: str
    version: int = Field(default=1, ge=1)
    severity: Severity
    escalate: tuple[Escalation, ...] = Field(
        default=(), description="first matching condition sets the severity instead"
    )
    message: str
    references: tuple[str, ...] = Field(min_length=1)
    enabled: bool = True
    dianping: DianpingRef | None = Field(default=None, description="default: by category (meta.yaml)")
    note: str | None = Field(default=None, description="reviewer's note: uncertain facts, what to verify")

    @field_validator("id")
    @classmethod
    def _rule_id(cls, v: str) -> str:
        if not RULE_ID.fullmatch(v):
            raise ValueError(f"rule id '{v}' must look like RX-DDI-001 (RX-, upper-case parts, 3 digits)")
        return v

    @field_validator("message")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(v) if f]
        except ValueError as exc:
            raise ValueError(f"message template is malformed: {exc}") from exc
        if any(not re.fullmatch(r"[a-z_][a-z0-9_.]*", f) for f in fields):
            raise ValueError(f"message placeholders must be fact or variable names, got {fields}")
        return v


class Interaction(_Rule):
    """A drug–drug interaction rule (``RX-DDI-nnn``) between targets ``a`` and ``b``."""

    category: ClassVar[Category] = Category.INTERACTION
    a: Target
    b: Target
    mechanism: str
    effect: str
    management: str


class Contraindication(_Rule):
    """A drug–disease, drug–lab or special-population rule (``RX-CI-nnn``): ``target`` when ``when`` holds."""

    category: Literal[Category.CONTRAINDICATION, Category.SPECIAL_POPULATION]
    population: Literal["pregnancy", "lactation", "children", "elderly", "renal", "hepatic"] | None = None
    target: Target
    when: Condition
    once: bool = Field(
        default=False,
        description="one finding naming every matching item (a rule about "
        "the prescription as a whole, e.g. ≥ 3 CNS-active drugs)",
    )

    @model_validator(mode="after")
    def _population(self) -> Contraindication:
        if (self.category == Category.SPECIAL_POPULATION) != (self.population is not None):
            raise ValueError("population is required for special_population rules and only for them")
        return self


class AllergenGroup(_Spec):
    """What patients and doctors write in 过敏史 for an allergen, and the drugs it names."""

    id: str
    names: tuple[str, ...] = Field(min_length=1, description="what patients and doctors write")
    target: Target


class CrossReactivity(_Rule):
    """A cross-reactivity rule: ``target`` drugs are flagged when the patient is allergic to ``allergen``."""

    category: ClassVar[Category] = Category.ALLERGY
    allergen: str = Field(description="id of an allergen group")
    target: Target


class DuplicateGroup(_Rule):
    """A same-class duplication rule: two or more distinct items in ``classes`` on one prescription."""

    category: ClassVar[Category] = Category.DUPLICATE_THERAPY
    name: str
    classes: tuple[str, ...] = Field(min_length=1)


class DuplicateException(_Spec):
    """An allowed combination within duplicate groups (``duplicate_exceptions``): not reported."""

    id: str
    name: str
    members: tuple[Target, ...] = Field(min_length=2, description="each item matches a distinct member")
    references: tuple[str, ...] = Field(min_length=1)


class Indication(_Rule):
    """An indication rule: ``target`` needs a matching diagnosis (``icd10``/``names``) or ``with_drugs``."""

    category: ClassVar[Category] = Category.INDICATION
    target: Target
    icd10: tuple[IcdSpec, ...] = Field(min_length=1)
    names: tuple[str, ...] = Field(default=(), description="diagnosis words accepted when no ICD is given")
    with_drugs: Target | None = Field(
        default=None, description="also indicated alongside these drugs (PPI with antiplatelets or NSAIDs)"
    )
    with_current: bool = Field(
        default=True,
        description="a drug the patient already takes (在用药品) may meet with_drugs too; false: prescribed lines only",
    )


class Check(_Rule):
    """A check whose logic is code (dose, format, …) and whose wording, severity and source are data."""

    category: Category
    title: str


class RulesFile(_Spec):
    """One rule file of ``rules/`` (every section optional), as validated by ``load_knowledge``."""

    interactions: tuple[Interaction, ...] = ()
    contraindications: tuple[Contraindication, ...] = ()
    allergen_groups: tuple[AllergenGroup, ...] = ()
    cross_reactivity: tuple[CrossReactivity, ...] = ()
    duplicate_groups: tuple[DuplicateGroup, ...] = ()
    duplicate_exceptions: tuple[DuplicateException, ...] = ()
    indications: tuple[Indication, ...] = ()
    checks: tuple[Check, ...] = ()


class CourseDays(_Spec):
    """A diagnosis whose standard antimicrobial course is longer than the 7-day default."""

    name: str
    days: float = Field(gt=0)
    icd10: tuple[IcdSpec, ...] = ()
    names: tuple[str, ...] = ()
    references: tuple[str, ...] = Field(min_length=1)


class Parameters(_Spec):
    """Numbers from the regulations, overridable by an institution."""

    max_items: int = 5
    max_days: float = 7
    max_days_emergency: float = 3
    long_rx_usual_days: float = 28
    long_rx_max_days: float = 84
    elderly_age: float = 65
    adult_age: float = 18
    overdose_block_ratio: float = 2.0
    unit_ratio_low: float = 0.1
    unit_ratio_high: float = 20.0
    chronic_icd10: tuple[IcdSpec, ...] = ()
    course_days: tuple[CourseDays, ...] = ()
    vague_usage: tuple[str, ...] = ("遵医嘱", "自用", "按说明书", "酌情", "医嘱")
    record_required: tuple[str, ...] = ("主诉", "现病史", "既往史", "过敏史", "体格检查", "诊断", "处理")
    chief_complaint_max_chars: int = 20


class Meta(_Spec):
    """``rules/meta.yaml``: the KB's name and version, regulation parameters and 点评 defaults."""

    name: str
    version: str
    description: str = ""
    parameters: Parameters = Parameters()
    dianping_defaults: dict[Category, DianpingRef] = {}


class RuleOverride(_Spec):
    """A local override of one rule's severity, enablement or note (``LocalRules.rules``); None keeps it."""

    severity: Severity | None = None
    enabled: bool | None = None
    note: str | None = None


class LocalRules(_Spec):
    """An institution's 药事委员会 overrides; never edits the shipped knowledge base."""

    institution: str
    approved: str | None = Field(default=None, description="e.g. 药事管理与药物治疗学委员会 2026-03 会议")
    rules: dict[str, RuleOverride] = {}
    parameters: dict[str, object] = {}
    drug_dictionary: str | None = Field(
        default=None, description="药品字典配对 file (clinic formulary apply), relative to this file"
    )
