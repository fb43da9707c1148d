"""Synthetic reviewed prescriptions for the default reviewer (there is no real reviewed data).

A simulated community clinic: prescriptions are built from the knowledge base's own
indications (diagnosis → drugs of the indicated classes, at one strength unit, the
drug's usual frequency, 28 days for chronic diseases and 3–7 days for acute ones),
with clinic preferences (a few drugs per indication are written far more often),
plus common Chinese patent medicines that are NOT in the knowledge base. Then
perturbations: doses off by factors, unusual durations and frequencies, drugs
unrelated to the diagnoses, missing diagnoses.

The label ("return") is simulated from the RULE findings (warn/block) plus
pharmacist-like patterns the rules do not encode (doses far from the usual even
within the label maximum, long supplies, odd combinations), plus noise. The model
trained on it can therefore only echo the rules on the rules' own categories; its
value is ranking and the clinic-usual outlier check. eval/data/*.jsonl is never
used here.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from toolkit.audit import audit
from toolkit.knowledge.loader import Knowledge
from toolkit.records import AuditCase, Severity
from toolkit.units import MASS_TO_MG, parse_strength

# acute: infections, symptoms, injuries, skin/eye/ear, insomnia, acute pain; everything else is chronic
ACUTE = re.compile(r"^(J0|J1|J20|J21|J22|A|B|N3|R|H|L|S|T|K52|K59|M54|M79|G43|F51)")
# Chinese patent and other medicines absent from the knowledge base: (name, strength, dose, unit, freq, route)
NOT_IN_KB = [
    ("复方丹参滴丸", "27mg", 270.0, "mg", "tid", "口服", "I25.1", "冠心病"),
    ("银杏叶片", "9.6mg", 19.2, "mg", "tid", "口服", "I63.9", "脑梗死"),
    ("血塞通软胶囊", "60mg", 120.0, "mg", "bid", "口服", "I63.9", "脑梗死"),
    ("连花清瘟胶囊", "0.35g", 1.4, "g", "tid", "口服", "J06.9", "急性上呼吸道感染"),
    ("感冒灵颗粒", "10g", 10.0, "g", "tid", "口服", "J06.9", "急性上呼吸道感染"),
    ("甲钴胺片", "0.5mg", 0.5, "mg", "tid", "口服", "E11.4", "糖尿病周围神经病变"),
    ("谷维素片", "10mg", 20.0, "mg", "tid", "口服", "F51.0", "失眠"),
    ("脑心通胶囊", "0.4g", 1.6, "g", "tid", "口服", "I63.9", "脑梗死"),
]
AGE = {"child": (3, 17), "adult": (18, 64), "elderly": (65, 92)}


@dataclass(frozen=True)
class Line:
    drug: str
    strength: str
    dose: float
    unit: str
    frequency: str
    route: str
    days: float


@dataclass(frozen=True)
class Template:
    icd10: str
    diagnosis: str
    lines: tuple[Line, ...]
    chronic: bool


def _first_code(spec: str) -> str:
    return spec.split("-")[0].strip()


def templates(kb: Knowledge) -> list[Template]:
    """One template per (indication, drug): the drug at one strength unit, usual frequency, usual supply."""
    out = []
    for ind in kb.indications:
        code = _first_code(str(ind.icd10[0]))
        name = ind.names[0] if ind.names else code
        chronic = not ACUTE.match(code)
        drugs = [
            d
            for d in kb.drugs.values()
            if d.id in ind.target.drugs or set(ind.target.classes) & set(kb.classes_of(d.id))
        ]
        for d in drugs:
            form = d.forms[0]
            s = parse_strength(form.strengths[0])
            if s is None or len(s.amounts) != 1 or s.amounts[0][1] not in MASS_TO_MG or s.per_ml:
                dose, unit = 1.0, form.unit
            else:
                dose, unit = s.amounts[0]
            written = d.name + form.form if form.form not in d.name else d.name
            # every usual frequency the formulary lists, and the supplies a clinic writes, are one template each
            for freq in d.frequency.usual if d.frequency and d.frequency.usual else ("qd",):
                for days in (28.0, 14.0, 30.0) if chronic else (3.0, 5.0, 7.0):
                    t = Template(
                        code,
                        name,
                        (Line(written, form.strengths[0], dose, unit, freq, form.routes[0], days),),
                        chronic,
                    )
                    if _clean(t, kb):
                        out.append(t)
    return out


def _clean(t: Template, kb: Knowledge) -> bool:
    """Keep a template only when, alone, for a 50-year-old with normal renal function, no rule objects."""
    case = AuditCase.model_validate(
        {
            "id": "T",
            "patient": {
                "age": 50,
                "sex": "M",
                "diagnoses": [{"name": t.diagnosis, "icd10": t.icd10}],
                "labs": {"egfr": 95.0},
            },
            "prescription": {"kind": "普通", "items": [vars(li) for li in t.lines]},
        }
    )
    return not any(f.severity is not Severity.INFO for f in audit(case, kb).findings)


@dataclass(frozen=True)
class Example:
    case: AuditCase
    returned: bool
    reasons: tuple[str, ...]


def generate(kb: Knowledge, n: int, seed: int = 0, noise: float = 0.05) -> list[Example]:
    """``n`` synthetic reviewed prescriptions with simulated pharmacist decisions."""
    rng = random.Random(seed)
    temps = templates(kb)
    by_dx: dict[str, list[Template]] = {}
    for t in temps:
        by_dx.setdefault(t.icd10, []).append(t)
    dxs = sorted(by_dx)
    # clinic preferences: each diagnosis has a Zipf-like favourite order of drugs
    prefs = {dx: rng.sample(by_dx[dx], len(by_dx[dx])) for dx in dxs}
    dx_weight = {dx: (2.0 if ACUTE.match(dx) else 5.0) * rng.random() + 0.2 for dx in dxs}
    out = []
    for k in range(n):
        n_dx = rng.choices([1, 2, 3], weights=[5, 3, 1])[0]
        chosen = list(dict.fromkeys(rng.choices(dxs, weights=[dx_weight[d] for d in dxs], k=n_dx)))
        lines: list[Line] = []
        diagnoses = []
        reasons: list[str] = []
        for dx in chosen:
            options = prefs[dx]
            weights = [1.0 / (i + 1) ** 1.3 for i in range(len(options))]
            for t in {
                id(t): t for t in rng.choices(options, weights=weights, k=rng.choice([1, 1, 2]))
            }.values():
                lines.extend(t.lines)
            diagnoses.append({"name": options[0].diagnosis, "icd10": dx})
        if rng.random() < 0.15:
            name, strength, dose, unit, freq, route, icd, dxname = rng.choice(NOT_IN_KB)
            lines.append(Line(name, strength, dose, unit, freq, route, 14.0))
            if rng.random() < 0.7:
                diagnoses.append({"name": dxname, "icd10": icd})
        pert = []
        for line in lines:
            r = rng.random()
            if r < 0.10:
                factor = rng.choice([0.25, 0.5, 2.0, 2.0, 3.0, 4.0, 10.0])
                line = Line(
                    line.drug,
                    line.strength,
                    round(line.dose * factor, 4),
                    line.unit,
                    line.frequency,
                    line.route,
                    line.days,
                )
                reasons.append(f"dose×{factor}")
            elif r < 0.15:
                days = rng.choice([60.0, 90.0, 120.0]) if line.days >= 14 else rng.choice([14.0, 21.0, 30.0])
                line = Line(line.drug, line.strength, line.dose, line.unit, line.frequency, line.route, days)
                reasons.append(f"days {days:g}")
            elif r < 0.19:
                freq = rng.choice(["tid", "qid", "q6h"]) if line.frequency in ("qd", "qn") else "qd"
                line = Line(line.drug, line.strength, line.dose, line.unit, freq, line.route, line.days)
                reasons.append(f"freq {freq}")
            pert.append(line)
        if rng.random() < 0.07:  # a drug unrelated to every diagnosis
            other = rng.choice(temps)
            if other.icd10 not in chosen:
                pert.extend(other.lines)
                reasons.append("unrelated drug")
        if rng.random() < 0.03:
            diagnoses = []
            reasons.append("no diagnosis")
        band = rng.choices(list(AGE), weights=[1, 5, 4])[0]
        age = rng.randint(*AGE[band]) if rng.random() > 0.03 else None
        patient = {
            "age": age,
            "sex": rng.choice("MF"),
            "diagnoses": diagnoses,
            "labs": {"egfr": float(rng.choice([95, 85, 70, 55, 40, 25]))},
        }
        case = AuditCase.model_validate(
            {
                "id": f"SYN-{seed}-{k:06d}",
                "patient": patient,
                "prescription": {
                    "kind": "普通",
                    "items": [
                        {
                            "drug": li.drug,
                            "strength": li.strength,
                            "dose": li.dose,
                            "unit": li.unit,
                            "frequency": li.frequency,
                            "route": li.route,
                            "days": li.days,
                        }
                        for li in pert
                    ],
                },
            }
        )
        out.append(Example(case, _decide(case, kb, reasons, rng, noise), tuple(reasons)))
    return out


def _decide(case: AuditCase, kb: Knowledge, reasons: list[str], rng: random.Random, noise: float) -> bool:
    """A simulated pharmacist: mostly follows block/warn rule findings, plus patterns the rules lack."""
    findings = audit(case, kb).findings
    p = 0.02
    if any(f.severity is Severity.BLOCK for f in findings):
        p = max(p, 0.9)
    warn_cats = {f.category.value for f in findings if f.severity is Severity.WARN}
    if warn_cats - {"record", "format"}:
        p = max(p, 0.6)
    elif warn_cats:
        p = max(p, 0.25)
    for r in reasons:
        if r.startswith("dose×") and float(r[5:]) not in (2.0,):
            p = max(p, 0.75)  # far from the usual dose: pharmacists ask, even within the label maximum
        elif r.startswith("dose×"):
            p = max(p, 0.35)
        elif r.startswith("days") and float(r[5:]) >= 60:
            p = max(p, 0.5)
        elif r == "unrelated drug":
            p = max(p, 0.4)
    returned = rng.random() < p
    return (not returned) if rng.random() < noise else returned
