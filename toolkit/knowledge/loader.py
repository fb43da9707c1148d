"""Load and validate the knowledge base; build the indexes the audit uses.

All files are validated at load and *every* problem is reported at once, each
located as ``rules/interactions.yaml -> interactions[3] (RX-DDI-004) -> a ->
classes: unknown class 'acei2'``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from toolkit.errors import KnowledgeError
from toolkit.knowledge.conditions import Condition, item_ids
from toolkit.knowledge.diagnoses import NO_CODES, DiagnosisCodes, LexiconCodes
from toolkit.knowledge.known import known_drug_names
from toolkit.knowledge.names import NameIndex, clean_name, one_edit_apart, pinyin_key, strip_form
from toolkit.knowledge.schema import (
    CONTROLLED_CLASSES,
    AllergenGroup,
    Check,
    Contraindication,
    CrossReactivity,
    Drug,
    DrugClass,
    DuplicateException,
    DuplicateGroup,
    FormularyFile,
    Indication,
    Interaction,
    LocalRules,
    Meta,
    Parameters,
    RulesFile,
    Target,
)

log = logging.getLogger(__name__)

# a name guess never lands on these (ATC prefixes of the drug or an ingredient; class ids with ancestors):
# anti-infectives, antidiabetics and insulins, antithrombotics, cardiac glycosides and antiarrhythmics,
# thyroid and antithyroid drugs, antiepileptics, opioids, psycholeptics and psychoanaleptics,
# antineoplastics and immunomodulators
GUARDED_ATC = ("J", "A10", "B01", "C01A", "C01B", "H03", "N02A", "N03", "N05", "N06", "L")
GUARDED_CLASSES = frozenset(
    {
        "antibacterial",
        "antiviral",
        "antifungal_azole",
        "antidiabetic",
        "insulin",
        "antiplatelet",
        "anticoagulant",
        "antiarrhythmic",
        "cardiac_glycoside",
        "benzodiazepine",
        "z_drug",
        "ssri",
        "psychotropic_2",
    }
)

_RULE_SECTIONS = (
    "interactions",
    "contraindications",
    "cross_reactivity",
    "duplicate_groups",
    "indications",
    "checks",
)


def default_rules_dir() -> Path:
    """The knowledge base shipped with the package (``rules/`` in the repository)."""
    return Path(str(resources.files("toolkit") / "rules"))


@dataclass
class Knowledge:
    """The validated knowledge base with its indexes. Build once per process, share read-only."""

    meta: Meta
    params: Parameters
    drugs: dict[str, Drug]
    classes: dict[str, DrugClass]
    interactions: tuple[Interaction, ...]
    contraindications: tuple[Contraindication, ...]
    allergen_groups: dict[str, AllergenGroup]
    cross_reactivity: tuple[CrossReactivity, ...]
    duplicate_groups: tuple[DuplicateGroup, ...]
    duplicate_exceptions: tuple[DuplicateException, ...]
    indications: tuple[Indication, ...]
    checks: dict[str, Check]
    fingerprint: str
    local_rules: str | None = None
    known_names: frozenset[str] = frozenset()  # drugs outside the formulary (lexicon, reimbursement list)
    drug_codes: dict[str, Any] | None = None  # 药品编码 → DictionaryEntry, from the local drug dictionary
    diagnosis_codes: DiagnosisCodes | LexiconCodes = (
        NO_CODES  # diagnosis name → ICD-10 (lexicon/diagnoses.yaml)
    )
    _class_cache: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> str:
        """The KB version for reports: the ``meta.yaml`` version, ``+``, 8 hex digits of the fingerprint."""
        return f"{self.meta.version}+{self.fingerprint[:8]}"

    @cached_property
    def names(self) -> NameIndex:
        """Index of every written name (generic, salt, English, brand, alias) of the formulary's drugs."""
        written: dict[str, tuple[str, str]] = {}
        for d in self.drugs.values():
            for source, names in (
                ("alias", d.aliases),
                ("brand", d.brands),
                ("en", (d.en,)),
                ("salt", d.salts),
                ("generic", (d.name,)),
            ):
                for n in names:
                    if n:
                        written[n] = (d.id, source)
        return NameIndex(written, known=self.known_names, guarded=self.guarded_drugs)  # type: ignore[arg-type]

    @cached_property
    def guarded_drugs(self) -> frozenset[str]:
        """Drugs a name guess (homophone, typo) may never land on: a swap there is dangerous."""
        out = set()
        for d in self.drugs.values():
            atcs = [d.atc or ""] + [
                self.drugs[i.drug].atc or "" for i in d.ingredients if i.drug in self.drugs
            ]
            if any(a.startswith(GUARDED_ATC) for a in atcs if a) or self.classes_of(d.id) & GUARDED_CLASSES:
                out.add(d.id)
        return frozenset(out)

    def coverage(self, drug_id: str | None) -> str:
        """Which checks run for a drug: ``full``, ``class`` (class rules only) or ``none``."""
        if drug_id is None or drug_id not in self.drugs:
            return "none"
        return self.drugs[drug_id].tier

    def ingredients(self, drug_id: str) -> tuple[str, ...]:
        """Single-ingredient drug ids of a product (itself when it is not a combination)."""
        d = self.drugs[drug_id]
        return tuple(i.drug for i in d.ingredients) or (drug_id,)

    def classes_of(self, drug_id: str) -> frozenset[str]:
        """Every class of a drug, its ancestors and (for combinations) its ingredients' classes — except the
        麻醉/精神药品 classes, which a combination product states itself (`controlled`), never inherits."""
        if drug_id in self._class_cache:
            return self._class_cache[drug_id]
        d = self.drugs[drug_id]
        out: set[str] = set()
        for c in d.classes:
            while c and c not in out:
                out.add(c)
                c = self.classes[c].parent or ""
        for ing in d.ingredients:
            out |= self.classes_of(ing.drug) - CONTROLLED_CLASSES
        if d.controlled not in (None, "none"):
            out.add(d.controlled)  # type: ignore[arg-type]
        result = frozenset(out)
        self._class_cache[drug_id] = result
        return result

    def matches(self, target: Target, drug_id: str) -> bool:
        """True when a drug (or any of its ingredients) is named by ``target``."""
        if drug_id in target.drugs or any(i in target.drugs for i in self.ingredients(drug_id)):
            return True
        return bool(target.classes) and not self.classes_of(drug_id).isdisjoint(target.classes)

    def check(self, rule_id: str) -> Check:
        """The code check with id ``rule_id`` (``checks.yaml``); KeyError when it is not defined."""
        return self.checks[rule_id]


# --------------------------------------------------------------------------- loading


def _loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f" -> {part}" if out else str(part))
    return out


def _entry_label(section: str, i: int, raw: Any) -> str:
    ident = raw.get("id") if isinstance(raw, dict) else None
    return f"{section}[{i}]" + (f" ({ident})" if ident else "")


def _validate_entries(
    file: str, data: dict[str, Any], model: type[BaseModel], problems: list[str]
) -> dict[str, list[Any]]:
    """Validate each list entry on its own so one bad rule does not hide the others."""
    out: dict[str, list[Any]] = {}
    fields = model.model_fields
    for key in data:
        if key not in fields:
            problems.append(f"{file} -> {key}: unknown section; allowed: {', '.join(fields)}")
    for key, f in fields.items():
        raw = data.get(key, [])
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            problems.append(f"{file} -> {key}: must be a list")
            continue
        item_type = f.annotation.__args__[0]  # tuple[X, ...]
        for i, entry in enumerate(raw):
            try:
                out.setdefault(key, []).append(item_type.model_validate(entry))
            except ValidationError as exc:
                for err in exc.errors():
                    where = _loc(err["loc"])
                    problems.append(
                        f"{file} -> {_entry_label(key, i, entry)}"
                        + (f" -> {where}" if where else "")
                        + f": {err['msg']}"
                    )
    return out


try:  # libyaml's safe loader: the same documents, several times faster on a thousand-drug formulary
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader  # type: ignore[assignment]


def _read_yaml(path: Path, root: Path, problems: list[str]) -> dict[str, Any] | None:
    rel = path.relative_to(root.parent).as_posix() if path.is_relative_to(root.parent) else str(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SafeLoader)
    except yaml.YAMLError as exc:
        problems.append(f"{rel}: not valid YAML: {exc}")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{rel}: cannot read: {exc}")
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"{rel}: top level must be a mapping of sections")
        return None
    return data


def load_knowledge(rules_dir: str | Path | None = None, local: str | Path | None = None) -> Knowledge:
    """Load ``rules_dir`` (default: the shipped KB) and apply an institution's ``local`` overrides."""
    root = Path(rules_dir) if rules_dir else default_rules_dir()
    if not root.is_dir():
        raise KnowledgeError([f"{root}: knowledge-base directory not found"])
    problems: list[str] = []
    digest = hashlib.sha256()

    def rel(p: Path) -> str:
        return f"{root.name}/{p.relative_to(root).as_posix()}"

    meta: Meta | None = None
    drugs: dict[str, tuple[str, Drug]] = {}
    classes: dict[str, tuple[str, DrugClass]] = {}
    rules: dict[str, list[tuple[str, Any]]] = {}
    # local/ holds institution overrides (applied on request); care/ (care plans) and
    # lexicon/ (ASR and extraction vocabularies) have loaders of their own.
    paths = sorted(
        p for p in root.rglob("*.yaml") if not {"local", "care", "lexicon"} & set(p.relative_to(root).parts)
    )
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
        name = rel(path)
        data = _read_yaml(path, root, problems)
        if data is None:
            continue
        if path.name == "meta.yaml":
            try:
                meta = Meta.model_validate(data)
            except ValidationError as exc:
                problems.extend(f"{name} -> {_loc(e['loc'])}: {e['msg']}" for e in exc.errors())
            continue
        model = FormularyFile if path.parent.name == "formulary" else RulesFile
        entries = _validate_entries(name, data, model, problems)
        for d in entries.get("drugs", []):
            if d.id in drugs:
                problems.append(f"{name} -> drugs ({d.id}): duplicate drug id, first in {drugs[d.id][0]}")
            drugs[d.id] = (name, d)
        for c in entries.get("classes", []):
            if c.id in classes:
                problems.append(
                    f"{name} -> classes ({c.id}): duplicate class id, first in {classes[c.id][0]}"
                )
            classes[c.id] = (name, c)
        for section in (*_RULE_SECTIONS, "allergen_groups", "duplicate_exceptions"):
            rules.setdefault(section, []).extend((name, r) for r in entries.get(section, []))
    if meta is None and not any("meta.yaml" in p for p in problems):
        problems.append(f"{root.name}/meta.yaml: missing (name and version of the knowledge base)")

    known = known_drug_names(root)
    _cross_check(drugs, classes, rules, problems)
    _check_near_names(drugs, known, problems)
    if problems:
        raise KnowledgeError(problems)
    assert meta is not None
    params = meta.parameters
    checks = {c.id: c for _, c in rules["checks"]}
    kb = Knowledge(
        meta=meta,
        params=params,
        drugs={k: v for k, (_, v) in drugs.items()},
        classes={k: v for k, (_, v) in classes.items()},
        interactions=tuple(r for _, r in rules["interactions"]),
        contraindications=tuple(r for _, r in rules["contraindications"]),
        allergen_groups={g.id: g for _, g in rules["allergen_groups"]},
        cross_reactivity=tuple(r for _, r in rules["cross_reactivity"]),
        duplicate_groups=tuple(r for _, r in rules["duplicate_groups"]),
        duplicate_exceptions=tuple(r for _, r in rules["duplicate_exceptions"]),
        indications=tuple(r for _, r in rules["indications"]),
        checks=checks,
        fingerprint=digest.hexdigest(),
        known_names=known,
        diagnosis_codes=LexiconCodes(root),
    )
    if local:
        kb = apply_local_rules(kb, local)
    log.info(
        "knowledge base %s loaded: %d drugs, %d rules",
        kb.version,
        len(kb.drugs),
        sum(len(rules[s]) for s in _RULE_SECTIONS),
    )
    return kb


def _check_near_names(drugs: dict[str, tuple[str, Drug]], known: frozenset[str], problems: list[str]) -> None:
    """rules/README (Names): no alias (old name, misspelling) one character away from another real drug's
    name — its generic, salt or brand name, or a known drug outside the formulary — since a near-miss of
    the other drug would then read as this one (甲福明 ↔ 甲氧明, 托塞米 ↔ 呋塞米). Names are compared without
    their dosage-form word; a homophone of the drug's own name (颉沙坦) is what an alias is for; products
    that share an ingredient are not "another drug"; an alias a pharmacist kept after review is listed in
    the entry's ``near_names_reviewed`` with the reason. Brands are real product names: two real brands
    one character apart (诺和力/诺和龙) are both kept, and name guesses never aim at a brand."""
    by_mask: dict[str, set[tuple[str, str]]] = {}  # masked name → {(name, drug id or "" for known)}

    def add(name: str, owner: str) -> None:
        if len(name) >= 3:
            for i in range(len(name)):
                by_mask.setdefault(name[:i] + "?" + name[i + 1 :], set()).add((name, owner))

    def ingredients(did: str) -> set[str]:
        return {i.drug for i in drugs[did][1].ingredients} | {did}

    own: dict[str, str] = {}
    for did, (_, d) in drugs.items():
        for n in {d.name, *d.aliases, *d.brands, *d.salts}:
            own[strip_form(clean_name(n))] = did
        for n in {d.name, *d.brands, *d.salts}:  # real names only: a listed misspelling is no product
            add(strip_form(clean_name(n)), did)
    for k in known:
        k = strip_form(k)
        if k not in own:
            add(k, "")
    for did, (file, d) in drugs.items():
        real = {strip_form(clean_name(n)) for n in (d.name, *d.salts)}
        sounds = {pinyin_key(r) for r in real}
        for what, names in (("aliases", d.aliases),):
            for n in names:
                key = strip_form(clean_name(n))
                if key in real or pinyin_key(key) in sounds or n in d.near_names_reviewed:
                    continue  # its own name with a form word, a listed homophone of it (颉沙坦), or reviewed
                near = sorted(
                    {
                        (other, owner)
                        for i in range(len(key))
                        for other, owner in by_mask.get(key[:i] + "?" + key[i + 1 :], ())
                        if other != key
                        and one_edit_apart(key, other)
                        and (owner == "" or not ingredients(owner) & ingredients(did))
                    }
                )
                for other, owner in near[:3]:
                    whose = f"drug '{owner}'" if owner else "a known drug outside the formulary"
                    problems.append(
                        f"{file} -> drugs ({did}) -> {what}: '{n}' is one character from '{other}' "
                        f"({whose}); a written '{other}' could be taken for this drug — remove it, or list it "
                        f"under near_names_reviewed with the reason it stays"
                    )


def _cross_check(
    drugs: dict[str, tuple[str, Drug]],
    classes: dict[str, tuple[str, DrugClass]],
    rules: dict[str, list[tuple[str, Any]]],
    problems: list[str],
) -> None:
    """References between files: class and drug ids exist, rule ids are unique, names are unambiguous."""
    for cid, (file, c) in classes.items():
        if c.parent and c.parent not in classes:
            problems.append(f"{file} -> classes ({cid}) -> parent: unknown class '{c.parent}'")
    written: dict[str, str] = {}
    for did, (file, d) in drugs.items():
        for c in d.classes:
            if c not in classes:
                problems.append(f"{file} -> drugs ({did}) -> classes: unknown class '{c}'")
        for ing in d.ingredients:
            if ing.drug not in drugs:
                problems.append(f"{file} -> drugs ({did}) -> ingredients: unknown drug '{ing.drug}'")
        # a combination with a 麻醉/精神药品 ingredient states its own class: the regulation decides it per
        # compound preparation (含羟考酮复方制剂 ≤5 mg/单位 are 精二), so inheriting the ingredient's is wrong
        controlled_ings = sorted(
            f"{ing.drug}: {c}"
            for ing in d.ingredients
            if ing.drug in drugs
            for c in CONTROLLED_CLASSES.intersection(drugs[ing.drug][1].classes)
        )
        if controlled_ings and d.controlled is None:
            problems.append(
                f"{file} -> drugs ({did}) -> controlled: the product has a controlled ingredient "
                f"({', '.join(controlled_ings)}); state its own class under the regulation "
                f"(narcotic, psychotropic_1, psychotropic_2 or none)"
            )
        for n in {d.name, *d.aliases, *d.brands, *d.salts}:
            key = n.strip().lower()
            if key in written and written[key] != did:
                problems.append(f"{file} -> drugs ({did}): name '{n}' already names drug '{written[key]}'")
            written[key] = did

    def check_target(file: str, label: str, t: Target) -> None:
        for x in t.drugs:
            if x not in drugs:
                problems.append(f"{file} -> {label}: unknown drug '{x}'")
        for x in t.classes:
            if x not in classes:
                problems.append(f"{file} -> {label}: unknown class '{x}'")

    seen: dict[str, str] = {}
    for section in _RULE_SECTIONS:
        for file, r in rules.get(section, []):
            label = f"{section} ({r.id})"
            if r.id in seen:
                problems.append(f"{file} -> {label}: duplicate rule id, first in {seen[r.id]}")
            seen[r.id] = file
            for attr in ("a", "b", "target", "with_drugs"):
                if isinstance(getattr(r, attr, None), Target):
                    check_target(file, f"{label} -> {attr}", getattr(r, attr))
            for cls in getattr(r, "classes", ()) if section == "duplicate_groups" else ():
                if cls not in classes:
                    problems.append(f"{file} -> {label} -> classes: unknown class '{cls}'")
            # prescription.items conditions name classes or drugs: unknown ids are errors, like targets
            trees = [("when", r.when)] if isinstance(getattr(r, "when", None), Condition) else []
            trees += [(f"escalate[{i}] -> when", e.when) for i, e in enumerate(getattr(r, "escalate", ()))]
            for where, tree in trees:
                for x in item_ids(tree):
                    if x not in classes and x not in drugs:
                        problems.append(
                            f"{file} -> {label} -> {where}: prescription.items names unknown "
                            f"class or drug '{x}'"
                        )
    groups = {g.id for _, g in rules.get("allergen_groups", [])}
    for file, g in rules.get("allergen_groups", []):
        check_target(file, f"allergen_groups ({g.id}) -> target", g.target)
    for file, r in rules.get("cross_reactivity", []):
        if r.allergen not in groups:
            problems.append(
                f"{file} -> cross_reactivity ({r.id}) -> allergen: unknown allergen group '{r.allergen}'"
            )
    for file, e in rules.get("duplicate_exceptions", []):
        for i, m in enumerate(e.members):
            check_target(file, f"duplicate_exceptions ({e.id}) -> members[{i}]", m)


RENAMED_RULES: dict[str, str] = {
    # retired id → the id that now holds the rule (KB 2026.12, kb-review-2026-12 §1.4)
    "RX-DDI-057": "RX-DDI-056",  # domperidone + QT-prolonging drugs: merged, now every qt_prolonging drug
}
"""Rule ids removed from the shipped KB. A local rules file naming one gets an error naming the new id."""


def apply_local_rules(kb: Knowledge, path: str | Path) -> Knowledge:
    """Return a copy of ``kb`` with an institution's severity / enabled / parameter overrides."""
    path = Path(path)
    problems: list[str] = []
    data = _read_yaml(path, path.parent, problems)
    if problems:
        raise KnowledgeError(problems)
    try:
        local = LocalRules.model_validate(data)
    except ValidationError as exc:
        raise KnowledgeError([f"{path} -> {_loc(e['loc'])}: {e['msg']}" for e in exc.errors()]) from exc

    def patch(rule: Any) -> Any:
        o = local.rules.get(rule.id)
        if o is None:
            return rule
        update = {k: v for k, v in (("severity", o.severity), ("enabled", o.enabled)) if v is not None}
        return rule.model_copy(update=update)

    known = {
        r.id
        for s in (
            kb.interactions,
            kb.contraindications,
            kb.cross_reactivity,
            kb.duplicate_groups,
            kb.indications,
        )
        for r in s
    } | set(kb.checks)
    for rid in local.rules:
        if rid in RENAMED_RULES and rid not in known:
            problems.append(
                f"{path} -> rules -> {rid}: this rule id was retired; its rule is now "
                f"{RENAMED_RULES[rid]} (check the override still means what you intend)"
            )
        elif rid not in known:
            problems.append(f"{path} -> rules -> {rid}: unknown rule id")
    try:
        params = Parameters.model_validate({**kb.params.model_dump(), **local.parameters})
    except ValidationError as exc:
        problems.extend(f"{path} -> parameters -> {_loc(e['loc'])}: {e['msg']}" for e in exc.errors())
        params = kb.params
    codes = None
    if local.drug_dictionary:
        from toolkit.knowledge.dictionary import load_dictionary

        try:
            codes = dict(load_dictionary(path.parent / local.drug_dictionary, kb.drugs).entries)
        except KnowledgeError as exc:
            problems.extend(exc.problems)
    if problems:
        raise KnowledgeError(problems)
    return Knowledge(
        meta=kb.meta,
        params=params,
        drugs=kb.drugs,
        classes=kb.classes,
        interactions=tuple(map(patch, kb.interactions)),
        contraindications=tuple(map(patch, kb.contraindications)),
        allergen_groups=kb.allergen_groups,
        cross_reactivity=tuple(map(patch, kb.cross_reactivity)),
        duplicate_groups=tuple(map(patch, kb.duplicate_groups)),
        duplicate_exceptions=kb.duplicate_exceptions,
        indications=tuple(map(patch, kb.indications)),
        checks={k: patch(v) for k, v in kb.checks.items()},
        fingerprint=kb.fingerprint,
        local_rules=f"{local.institution} ({path.name})",
        known_names=kb.known_names,
        diagnosis_codes=kb.diagnosis_codes,
        drug_codes=codes,
    )


__all__ = ["Condition", "Knowledge", "default_rules_dir", "load_knowledge"]
