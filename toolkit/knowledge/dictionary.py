"""The clinic's drug dictionary (药品字典配对): 药品编码 → formulary drug, confirmed by a pharmacist.

The file a local rules file names as ``drug_dictionary:``; the loader reads it with :func:`load_dictionary`
and an audit line carrying a 药品编码 is then the confirmed drug (a code missing from it is RX-FMT-011, never
guessed from the name). Building it from the HIS catalogue (proposals, the pharmacist's review sheet,
applying the confirmed sheet) is :mod:`toolkit.batch.catalogue`, ``clinic formulary map|apply``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolkit.errors import KnowledgeError


class DictionaryEntry(BaseModel):
    """One 药品编码 of a drug dictionary: the formulary drug it maps to (None: confirmed not in the KB)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drug: str | None = Field(description="formulary drug id; null = confirmed not covered by the KB")
    name: str = Field(default="", description="the catalogue's generic name, for people reading the file")
    strength: str | None = Field(
        default=None, description="the catalogue's strength, used when a line has none"
    )
    form: str | None = None
    note: str | None = None


class DrugDictionary(BaseModel):
    """``rules/local/<institution>_drugs.yaml``: 药品编码 → formulary drug, confirmed by a pharmacist."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    institution: str = ""
    catalogue: str = Field(default="", description="the catalogue file and its SHA-256 the sheet came from")
    confirmed: str = Field(default="", description="date and reviewer of the confirmed sheet")
    entries: dict[str, DictionaryEntry] = {}


def load_dictionary(path: str | Path, drugs: dict[str, Any]) -> DrugDictionary:
    """Read and validate a dictionary file: every drug id must exist in the knowledge base."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        d = DrugDictionary.model_validate(data)
    except OSError as exc:
        raise KnowledgeError([f"{path}: cannot read the drug dictionary: {exc}"]) from exc
    except yaml.YAMLError as exc:
        raise KnowledgeError([f"{path}: not valid YAML: {exc}"]) from exc
    except ValidationError as exc:
        raise KnowledgeError(
            [f"{path} -> {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from exc
    problems = [
        f"{path} -> entries -> {code} -> drug: unknown drug id '{e.drug}'"
        for code, e in d.entries.items()
        if e.drug is not None and e.drug not in drugs
    ]
    if problems:
        raise KnowledgeError(problems)
    return d


def dump_dictionary(d: DrugDictionary, out: str | Path) -> Path:
    """Write a dictionary as YAML with a Chinese header (JSON when ``out`` ends in .json); return the path."""
    out = Path(out)
    data = d.model_dump(mode="json")
    header = (
        "# 药品字典配对（clinic formulary apply 生成）：药品编码 → 审方知识库药品ID；drug: null 表示已确认知识库未收录。\n"
        "# 在本机构 local 规则文件中以 drug_dictionary: <本文件名> 引用。\n"
    )
    if out.suffix.lower() == ".json":
        import json

        out.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        out.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out
