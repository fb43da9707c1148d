"""Vocabularies of the entity ruler: formulary drug names, diagnoses (→ ICD-10), symptoms, body parts,
and the word parts of diagnosis mentions (``disease_morphology.yaml``, compiled to :class:`Morphology`).

The files live in ``rules/lexicon/`` (packaged as ``toolkit/rules/lexicon``) and are validated
when loaded; every problem is reported with its file and path. ``asr_terms.yaml`` in the same
folder belongs to the ASR stage and is not read here.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from toolkit.errors import KnowledgeError
from toolkit.knowledge import Knowledge, default_rules_dir

log = logging.getLogger(__name__)

_ICD = re.compile(r"^[A-Z]\d{2}(\.\d{1,3})?$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiagnosisEntry(_Spec):
    """One ICD-10 code (its form checked) and the diagnosis names that map to it."""

    icd10: str
    names: tuple[str, ...] = Field(min_length=1)

    @field_validator("icd10")
    @classmethod
    def _icd(cls, v: str) -> str:
        if not _ICD.match(v):
            raise ValueError(f"not an ICD-10 code: {v!r} (expected like I10, E11.9)")
        return v


class DiagnosesFile(_Spec):
    """Schema of ``diagnoses.yaml``: hand-written entries, then those derived from CMeKG (hand wins)."""

    version: int
    diagnoses: tuple[DiagnosisEntry, ...]
    derived: tuple[DiagnosisEntry, ...] = ()


class SymptomsFile(_Spec):
    """Schema of ``symptoms.yaml``: symptom names in groups (only the names are used, not the groups)."""

    version: int
    symptoms: dict[str, tuple[str, ...]]


class BodyPartsFile(_Spec):
    """Schema of ``body_parts.yaml``: anatomical site names (label ``body_part``)."""

    version: int
    body_parts: tuple[str, ...]


class AllergensFile(_Spec):
    """Schema of ``allergens.yaml``: allergens that are not formulary drugs (foods, contrast media, ...)."""

    version: int
    allergens: tuple[str, ...]


class DrugsExtraFile(_Spec):
    """Schema of ``drugs_extra.yaml``: drug names outside the formulary, in parts by source."""

    version: int
    hand: tuple[str, ...] = ()
    oncology: tuple[str, ...] = ()
    derived: tuple[str, ...] = ()
    stems: tuple[str, ...] = ()


class MorphologyFile(_Spec):
    """Schema of ``disease_morphology.yaml``: word parts of diagnosis mentions; tails must compile."""

    version: int
    sides: tuple[str, ...]
    sites: tuple[str, ...] = Field(min_length=1)
    modifiers: tuple[str, ...]
    heads_free: tuple[str, ...] = Field(min_length=1)
    heads_site: tuple[str, ...] = Field(min_length=1)
    subsites: tuple[str, ...] = ()
    complications: tuple[str, ...] = ()
    tails: tuple[str, ...] = ()

    @field_validator("tails")
    @classmethod
    def _tails(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for t in v:
            try:
                re.compile(t.format(site="x", modifier="x"))
            except (re.error, KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"bad tail pattern {t!r}: {exc}") from exc
        return v


# Short names doctors say for a drug whose full name is in the formulary (打甘精和优泌乐, 瑞舒十毫克): the
# short name → the full name it stands for. Only names no other common drug starts with are listed;
# the extractor reads them only before a number, a sig word, a joining word or a clause end (阿托品,
# 二甲硅油, 门冬氨酸钾镁 and 十二甲… are not these drugs), see ``toolkit.extract.pipeline``.
COLLOQUIAL_DRUGS: dict[str, str] = {
    "门冬30": "门冬胰岛素30",
    "门冬50": "门冬胰岛素50",
    "赖脯25": "赖脯胰岛素25",
    "赖脯50": "赖脯胰岛素50",
    "甘精": "甘精胰岛素",
    "地特": "地特胰岛素",
    "德谷": "德谷胰岛素",
    "门冬": "门冬胰岛素",
    "赖脯": "赖脯胰岛素",
    "谷赖": "谷赖胰岛素",
    "二甲": "二甲双胍",
    "阿托": "阿托伐他汀",
    "瑞舒": "瑞舒伐他汀",
}


# a premix insulin said with its number in words or as ASR writes it (门冬胰岛素三十, 诺和灵三十R, 门冬胰岛素3-0,
# 精蛋白人胰岛素预混三十): see ``toolkit.extract.pipeline`` (the mention is the premix only when no unit follows)
_SAID_PREMIX = re.compile(
    r"^(?P<name>.*?[\u4e00-\u9fff])\s*(?P<open>[(（])?\s*(?P<mix>预混|混合)?\s*"
    r"(?P<num>二十五|[二三四五七]十|\d\s*[-－—–]\s*\d|\d{2})(?:\s*(?P<r>[rRＲ]))?(?:\s*[)）])?$"
)
_SAID_PREMIX_WORDS = {"二十五": "25", "二十": "20", "三十": "30", "四十": "40", "五十": "50", "七十": "70"}


def premix_name(said: str) -> str:
    """A premix insulin said with its number in words written as the formulary writes it: 门冬胰岛素三十 →
    门冬胰岛素30, 门冬三十 → 门冬30, 优泌乐二十五 → 优泌乐25, 诺和灵三十R → 诺和灵30R, 门冬胰岛素3-0 → 门冬胰岛素30;
    a human insulin said 预混/混合 and a number is the NNR premix (精蛋白人胰岛素预混三十 → 精蛋白人胰岛素预混30R).
    Any other name is returned as said."""
    m = _SAID_PREMIX.match(said.strip())
    if m is None:
        return said
    num = m.group("num")
    digits = _SAID_PREMIX_WORDS.get(num) or re.sub(r"[\s\-－—–]", "", num)
    if num.isdigit() and not m.group("open") and not m.group("mix"):
        return said  # 门冬胰岛素30, 诺和灵30R: already written as the formulary does
    r = "R" if m.group("r") or (m.group("mix") and "人胰岛素" in m.group("name")) else ""
    return f"{m.group('name')}{m.group('mix') or ''}{digits}{r}"


def prescription_name(said: str) -> str:
    """The name a prescription line carries for a drug said as ``said``: the full name of a colloquial
    short name (甘精 → 甘精胰岛素; 处方管理办法 第六条: 药品名称应当使用规范的中文名称书写, and the audit
    knows the full name), a premix said with its number in words in digits (门冬三十 → 门冬胰岛素30:
    :func:`premix_name`), else the name as said (brands and generics are judged as written)."""
    said = premix_name(said)
    return COLLOQUIAL_DRUGS.get(said, said)


_FILES: dict[str, type[_Spec]] = {
    "diagnoses.yaml": DiagnosesFile,
    "symptoms.yaml": SymptomsFile,
    "body_parts.yaml": BodyPartsFile,
    "allergens.yaml": AllergensFile,
    "drugs_extra.yaml": DrugsExtraFile,
    "disease_morphology.yaml": MorphologyFile,
}


def _alt(words: tuple[str, ...] | list[str]) -> str:
    """Regex alternation, longest first (so 十二指肠球部 is tried before 十二指肠)."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


@dataclass(frozen=True)
class Morphology:
    """Compiled patterns of :file:`rules/lexicon/disease_morphology.yaml` (see its header).

    ``mention``: a whole diagnosis built from parts (乙状结肠中分化腺癌, 左肾囊肿, 肝转移);
    ``prefix``: what may precede a lexicon diagnosis and belongs to it (search on the text before it,
    anchored at its start); ``tail``: what may follow (match at its end, repeated)."""

    mention: re.Pattern[str]
    prefix: re.Pattern[str]
    tail: re.Pattern[str]
    lesion_end: re.Pattern[str]
    complication: re.Pattern[str] = re.compile(r"(?!)")

    @classmethod
    def from_spec(cls, spec: MorphologyFile) -> Morphology:
        """Compile the patterns from a validated ``disease_morphology.yaml``."""
        side, mod = _alt(spec.sides), _alt(spec.modifiers)
        site = rf"(?:{_alt(spec.sites)})(?:{_alt(spec.subsites)})?" if spec.subsites else _alt(spec.sites)
        free, sited = _alt(spec.heads_free), _alt(spec.heads_site)
        # a head must not be the start of another word: 癌胚抗原, 肿瘤标志物, 胃癌根治术 (a procedure)
        not_word = (
            r"(?!胚|抗原|标志物|指标|筛查|根治术|切除术|细胞(?!癌)|性|术(?!后))(?!(?<=炎)症)"  # 肺炎症 ≠ 肺炎
        )
        sites = rf"(?:{site})"  # no coordination here: 肝脏及肝硬化 is two things
        lead = rf"(?:[（(](?:{side})?(?:{site})[）)])?(?:{side})?"
        mention = (
            rf"{lead}(?:(?:{mod}){{0,2}}(?:{sites})(?:{mod}){{0,3}}(?:{free}|{sited})"
            rf"|(?:{sites})?(?:{mod}){{0,3}}(?:{free})){not_word}"
        )
        prefix = rf"(?:{lead}(?:{mod}){{0,2}}(?:{site})?(?:{mod}){{1,3}}|{lead}(?:{mod}){{0,2}}(?:{site})(?:{mod}){{0,3}}|(?:{side}))$"
        tails = [t.format(site=site, modifier=mod) for t in spec.tails]
        tail = "|".join(f"(?:{t})" for t in tails) if tails else r"(?!)"
        lesion_end = rf"(?:{free}|{sited})$"
        complication = rf"性?(?:{_alt(spec.complications)})" if spec.complications else r"(?!)"
        return cls(
            mention=re.compile(mention),
            prefix=re.compile(prefix),
            tail=re.compile(tail),
            lesion_end=re.compile(lesion_end),
            complication=re.compile(complication),
        )


@dataclass(frozen=True)
class Lexicon:
    """All vocabularies, ready for the entity ruler. Build once with :func:`load_lexicon`."""

    drugs: dict[str, str | None]  # written form → formulary id (None: known drug, not in formulary)
    diseases: dict[str, str]  # name → ICD-10
    symptoms: frozenset[str]
    body_parts: frozenset[str]
    allergens: frozenset[str]
    morphology: Morphology | None = None
    kb_version: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def patterns(self) -> list[dict[str, Any]]:
        """spaCy span-ruler phrase patterns; ``id`` carries the normalised value."""
        out: list[dict[str, Any]] = []
        for name, drug_id in self.drugs.items():
            out.append({"label": "drug", "pattern": name, "id": drug_id or ""})
        for name, icd in self.diseases.items():
            out.append({"label": "disease", "pattern": name, "id": icd})
        for name in self.symptoms:
            out.append({"label": "symptom", "pattern": name, "id": ""})
        for name in self.body_parts:
            out.append({"label": "body_part", "pattern": name, "id": ""})
        for name in self.allergens:
            out.append({"label": "allergen", "pattern": name, "id": ""})
        return out


def _read(path: Path, model: type[_Spec], problems: list[str]) -> Any:
    name = f"rules/lexicon/{path.name}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.append(f"{name}: cannot read: {exc}")
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = " -> ".join(str(p) for p in err["loc"])
            problems.append(f"{name} -> {where}: {err['msg']}")
        return None


def load_lexicon(kb: Knowledge, lexicon_dir: str | Path | None = None) -> Lexicon:
    """Load and validate ``rules/lexicon/*.yaml`` (except asr_terms.yaml) and add the formulary names."""
    root = Path(lexicon_dir) if lexicon_dir else default_rules_dir() / "lexicon"
    problems: list[str] = []
    loaded: dict[str, Any] = {}
    for fname, model in _FILES.items():
        path = root / fname
        if not path.is_file():
            problems.append(f"rules/lexicon/{fname}: missing")
            continue
        loaded[fname] = _read(path, model, problems)
    if problems:
        raise KnowledgeError(problems)

    diseases: dict[str, str] = {}
    dfile: DiagnosesFile = loaded["diagnoses.yaml"]
    for entry in (*dfile.diagnoses, *dfile.derived):  # hand-written entries first: they win
        for n in entry.names:
            diseases.setdefault(n, entry.icd10)
    for n, icd in list(diseases.items()):  # …综合症 is a common (and ASR) writing of …综合征
        if n.endswith("综合征"):
            diseases.setdefault(n[:-1] + "症", icd)

    drugs: dict[str, str | None] = {}
    for d in kb.drugs.values():  # formulary names first: they win over the extra list
        for n in (d.name, d.en, *d.aliases, *d.brands, *d.salts):
            if n and len(n) >= 2:
                drugs.setdefault(n, d.id)
    extra: DrugsExtraFile = loaded["drugs_extra.yaml"]
    for n in (*extra.hand, *extra.oncology, *extra.derived, *extra.stems):
        if n in drugs or n in diseases:
            continue
        match = kb.names.resolve(n)
        # 'contained' would map 复方丹参滴丸-like names onto a formulary ingredient; only exact forms count
        drugs[n] = match.drug_id if match and match.kind in ("exact", "stripped") else None

    hand_dx = {n for entry in dfile.diagnoses for n in entry.names}
    # CMeKG lists signs and symptoms with ICD-10 R codes (胸痛 R07.4, 呃逆 R06.6, 淋巴结肿大 R59.9) among its
    # diseases: they are symptoms too, so the assembler decides by section (a diagnosis only under 诊断)
    r_coded = {
        n for entry in dfile.derived if entry.icd10.startswith("R") for n in entry.names if n not in hand_dx
    }
    symptoms = frozenset({s for group in loaded["symptoms.yaml"].symptoms.values() for s in group} | r_coded)
    body_parts = frozenset(loaded["body_parts.yaml"].body_parts)
    # the names the audit reads as allergens (rules/allergy.yaml: 盘尼西林, 先锋霉素, …) are read in allergy
    # statements too, so that what the audit understands is also what the extractor picks up
    allergens = frozenset(
        {
            *loaded["allergens.yaml"].allergens,
            *(
                n
                for g in kb.allergen_groups.values()
                for n in g.names
                if len(n) >= 2 and re.search(r"[\u4e00-\u9fff]", n)
            ),
        }
    )
    counts = {
        "drugs": len(drugs),
        "diseases": len(diseases),
        "symptoms": len(symptoms),
        "body_parts": len(body_parts),
        "allergens": len(allergens),
    }
    log.info("extraction lexicon loaded: %s", counts)
    morphology = Morphology.from_spec(loaded["disease_morphology.yaml"])
    return Lexicon(
        drugs=drugs,
        diseases=diseases,
        symptoms=symptoms,
        body_parts=body_parts,
        allergens=allergens,
        morphology=morphology,
        kb_version=kb.version,
        counts=counts,
    )


def derive_cmekg_diseases(cmekg_json: str | Path, exclude: set[str]) -> dict[str, list[str]]:
    """Maintenance helper: ICD-10 code → disease names from the CMeKG lexicon (MIT), for ``derived``.

    Keeps names of 2-20 characters without brackets or punctuation, the first code of each name,
    dagger/asterisk notation removed; names in ``exclude`` (the hand-written part) are skipped.
    """
    data = json.loads(Path(cmekg_json).read_text(encoding="utf-8"))["diseases_icd10"]
    out: dict[str, list[str]] = {}
    for name, codes in sorted(data.items()):
        if name in exclude or not (2 <= len(name) <= 20) or not codes:
            continue
        if re.search(r"[a-zA-Z]{4,}|[（(）)，,、；;\s]", name):
            continue
        code = re.sub(r"[↑†*].*$", "", codes[0]).strip().upper()
        if _ICD.match(code):
            out.setdefault(code, []).append(name)
    return out
