"""Read audit input files: nested cases (JSONL/JSON) or HIS drug-line exports (CSV/Excel/Parquet/JSONL).

An HIS export has one row per drug line; rows are grouped into prescriptions
by the prescription id (处方号) and Chinese column names are mapped through a
configurable column map. Codes are read as text (a leading zero in 处方号 or an
ICD code is never lost). A row that cannot be read becomes an error row naming
the file, row and field; it never aborts the file.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import json
import logging
import math
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from toolkit.errors import InputError
from toolkit.records import LAB_NAMES, AuditCase, PrescriptionItem

log = logging.getLogger(__name__)

ENCODINGS = ("utf-8-sig", "gb18030")
"""Tried in order. GB18030 is a superset of GBK and GB2312, so it reads all three."""

DEFAULT_COLUMNS: dict[str, str] = {
    # prescription
    "处方号": "rx_id", "处方编号": "rx_id", "处方ID": "rx_id", "rx_id": "rx_id", "id": "rx_id",
    "处方类型": "kind", "kind": "kind", "医生": "prescriber", "开方医生": "prescriber", "prescriber": "prescriber",
    "科室": "department", "department": "department", "开方日期": "date", "date": "date",
    "理由": "reason", "备注理由": "reason", "reason": "reason",
    # patient
    "患者": "patient_id", "患者ID": "patient_id", "患者编号": "patient_id", "patient_id": "patient_id",
    "年龄": "age", "age": "age", "性别": "sex", "sex": "sex", "体重": "weight_kg", "体重kg": "weight_kg",
    "weight_kg": "weight_kg", "妊娠": "pregnant", "pregnant": "pregnant", "哺乳": "lactating",
    "lactating": "lactating", "过敏史": "allergies", "allergies": "allergies",
    "诊断": "diagnoses", "diagnoses": "diagnoses", "诊断编码": "icd10", "icd10": "icd10",
    "eGFR": "egfr", "肾小球滤过率": "egfr", "血钾": "potassium", "ALT": "alt", "谷丙转氨酶": "alt",
    # drug line
    "药品名称": "drug", "药品": "drug", "drug": "drug", "规格": "strength", "strength": "strength",
    "单次剂量": "dose", "剂量": "dose", "dose": "dose", "剂量单位": "unit", "单位": "unit", "unit": "unit",
    "频次": "frequency", "用药频次": "frequency", "frequency": "frequency",
    "给药途径": "route", "用法": "route", "route": "route", "天数": "days", "用药天数": "days", "days": "days",
    "数量": "quantity", "quantity": "quantity", "皮试": "skin_test", "皮试结果": "skin_test",
    "skin_test": "skin_test", "备注": "note", "note": "note",
    **{name: name for name in LAB_NAMES},
}
"""Source column → field. Extend or replace it with ``--columns map.yaml``."""

_LINE_FIELDS = ("drug", "strength", "dose", "unit", "frequency", "route", "days", "quantity", "skin_test", "note")
_NUMBER_FIELDS = {"age", "weight_kg", "dose", "days", "quantity", *LAB_NAMES}


@dataclass
class RowRef:
    """Where an input row came from and what became of it (status is filled after the audit)."""

    line: int  # 1-based line/row number in the source file (header = 1 for tables)
    drug: str = ""
    item: int | None = None  # index in the prescription, None when the row could not be read
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RawUnit:
    """What the reader hands to a worker: cheap to read and pickle; :func:`build_unit` makes the case."""

    kind: str  # "nested" | "rows" | "error"
    file: str
    payload: Any  # nested: (line, dict); rows: (rx_id, [(line, row)]); error: CaseInput


@dataclass
class CaseInput:
    """One unit of work: a case to audit, or the reason it cannot be audited, with its source rows."""

    id: str
    case: AuditCase | None
    rows: list[RowRef] = field(default_factory=list)
    error: str | None = None
    prescriber: str | None = None
    department: str | None = None


def load_column_map(path: str | Path | None) -> dict[str, str]:
    """The default map updated with a user's YAML/JSON ``{source column: field}`` file."""
    mapping = dict(DEFAULT_COLUMNS)
    if path is None:
        return mapping
    p = Path(path)
    try:
        user = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read column map: {exc}", file=str(p)) from exc
    allowed = set(DEFAULT_COLUMNS.values())
    if not isinstance(user, dict):
        raise InputError("column map must be a mapping of source column to field", file=str(p))
    for src, dst in user.items():
        if dst not in allowed:
            raise InputError(f"unknown field '{dst}' for column '{src}'; allowed: {', '.join(sorted(allowed))}",
                             file=str(p), field=str(src))
        mapping[str(src)] = dst
    return mapping


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    formats = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
               ".xlsx": "excel", ".xls": "excel", ".xlsm": "excel", ".parquet": "parquet", ".pq": "parquet"}
    if suffix not in formats:
        raise InputError(f"unsupported file type '{suffix}'; use one of {', '.join(sorted(formats))}",
                         file=str(path))
    return formats[suffix]


BAD_BYTES = "\ufffd"
"""Stands for bytes that are not valid in the file's encoding; a row holding it is reported as an error."""

def _replace_and_count(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: U+FFFD for the bad bytes, counted so readers only look for it when needed."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _DECODE_ERRORS[0] += 1
    return BAD_BYTES, exc.end


_DECODE_ERRORS = [0]
_ERRORS_HANDLER = "clinic-toolkit-replace"
codecs.register_error(_ERRORS_HANDLER, _replace_and_count)


def read_text_lines(path: Path) -> Iterator[str]:
    """Lines of a text file in UTF-8 (with or without BOM) or GB18030/GBK, detected from the first 64 KiB.

    Bytes that are not valid in that encoding come back as U+FFFD (:data:`BAD_BYTES`), so the
    reader can report that one row and carry on with the file (see :func:`decode_errors`).
    """
    if path.stat().st_size == 0:
        return  # an empty file has no rows to lose: an empty report
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    encoding = _detect_encoding(head, path)
    before = _DECODE_ERRORS[0]
    with path.open("r", encoding=encoding, errors=_ERRORS_HANDLER, newline="") as fh:
        yield from fh
    if _DECODE_ERRORS[0] != before:
        log.warning("bytes not valid %s in %s; those rows are reported as errors", encoding, path.name)


def decode_errors() -> int:
    """How many undecodable byte runs this process has replaced so far (changes when a file has any)."""
    return _DECODE_ERRORS[0]


_HEAD_BYTES = 65536
# Non-ASCII characters below U+0800 that a genuine UTF-8 HIS export may hold (units, signs, Greek
# letters). Any other character in U+0080–U+07FF is what GBK bytes look like when read as UTF-8.
_PLAUSIBLE_UTF8 = frozenset("µμ×°±·²³¹½¼¾÷αβγδεθλπσωΩ®©é")


def _detect_encoding(head: bytes, path: Path) -> str:
    cut = len(head) >= _HEAD_BYTES  # a shorter head is the whole file: no character can be cut
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head.count(b"\x00") > max(4, len(head) // 100):
        raise InputError("file holds NUL bytes: not a UTF-8 or GBK text (UTF-16 or binary?); "
                         "re-export as UTF-8 or GBK", file=str(path))
    for enc in ENCODINGS:
        try:
            text = head.decode(enc)
        except UnicodeDecodeError as exc:
            if cut and exc.start > len(head) - 4:  # a multi-byte character cut by the 64 KiB window
                text = head[:exc.start].decode(enc, errors="replace")
            else:
                continue
        if enc != "gb18030" and _gbk_read_as_utf8(text, head, cut):
            return "gb18030"
        return enc
    # a few corrupt bytes must not cost the whole file: take the encoding that reads the most of it
    errors = {enc: head.decode(enc, errors="replace").count(BAD_BYTES) for enc in ENCODINGS}
    best = min(ENCODINGS, key=lambda e: errors[e])
    if errors[best] <= max(4, len(head) // 1000):
        return best
    raise InputError("text is neither UTF-8 nor GB18030/GBK", file=str(path))


def _gbk_read_as_utf8(text: str, head: bytes, cut: bool) -> bool:
    """A short GBK text can be valid UTF-8 by chance ('一' is D2 BB, UTF-8 for 'һ'): prefer GB18030
    when the UTF-8 reading has characters no Chinese export holds and the GB18030 reading is clean."""
    if head.startswith(b"\xef\xbb\xbf") or not any(0x80 <= ord(c) < 0x800 and c not in _PLAUSIBLE_UTF8
                                                      for c in text):
        return False
    try:
        head.decode("gb18030")
    except UnicodeDecodeError as exc:
        return cut and exc.start > len(head) - 4
    return True


# --------------------------------------------------------------------------- nested cases

def _iter_nested(path: Path, fmt: str) -> Iterator[tuple[int, Any]]:
    if fmt == "json":
        try:
            text = "".join(read_text_lines(path))
            if BAD_BYTES in text:
                raise InputError("bytes not valid in the file's encoding (UTF-8 or GBK)", file=str(path))
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg} (line {exc.lineno})", file=str(path)) from exc
        records = data if isinstance(data, list) else data.get("cases", [data]) if isinstance(data, dict) else None
        if records is None:
            raise InputError("JSON must be a case, a list of cases or {\"cases\": [...]}", file=str(path))
        yield from enumerate(records, start=1)
        return
    for n, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        if BAD_BYTES in line:
            yield n, InputError("bytes not valid in the file's encoding (UTF-8 or GBK)", file=path.name, row=n)
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, InputError(f"not valid JSON: {exc.msg} (column {exc.colno})", file=path.name, row=n)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(x) for x in e["loc"])
        parts.append(f"field '{loc}': {e['msg']}")
    return "; ".join(parts)


def _case_from_nested(n: int, raw: Any, path: Path) -> CaseInput:
    if isinstance(raw, InputError):
        return CaseInput(id=f"line-{n}", case=None, rows=[RowRef(line=n, error=str(raw))], error=str(raw))
    if not isinstance(raw, dict):
        msg = str(InputError("a case must be a JSON object", file=path.name, row=n))
        return CaseInput(id=f"line-{n}", case=None, rows=[RowRef(line=n, error=msg)], error=msg)
    case_id = str(raw.get("id") or f"line-{n}")
    raw = {**raw, "id": case_id}
    items = (raw.get("prescription") or {}).get("items") or [] if isinstance(raw.get("prescription"), dict) else []
    try:
        case = AuditCase.model_validate(raw)
    except ValidationError as exc:
        msg = str(InputError(_validation_message(exc), file=path.name, row=n))
        return CaseInput(id=case_id, case=None, rows=[RowRef(line=n, error=msg)], error=msg)
    rows = [RowRef(line=n, drug=str(it.get("drug", "")) if isinstance(it, dict) else "", item=i)
            for i, it in enumerate(items)] or [RowRef(line=n)]
    return CaseInput(id=case_id, case=case, rows=rows, prescriber=case.prescription.prescriber,
                     department=case.prescription.department)


# --------------------------------------------------------------------------- drug-line tables

Table = tuple[list[str], Iterator[tuple[int, list[Any]]]]


def _open_table(path: Path, fmt: str) -> Table:
    """The header and the rows (as lists, numbered as a spreadsheet shows them, header = 1).

    Rows stay lists here: turning them into records is the workers' job, so the reading
    process does as little as possible per row.
    """
    if fmt in {"csv", "tsv"}:
        clean = decode_errors()  # before the first read: the text layer decodes 8 KiB ahead
        reader = csv.reader(read_text_lines(path), delimiter="\t" if fmt == "tsv" else ",")
        header = [h.strip() for h in next(reader, [])]

        def records() -> Iterator[tuple[int, list[Any]]]:
            n = 1
            while True:
                n += 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:  # e.g. a cell over the field size limit: report the row, go on
                    values = [_ROW_ERROR, str(InputError(f"unreadable CSV record: {exc}", file=path.name, row=n))]
                if (decode_errors() != clean and values[:1] != [_ROW_ERROR]
                        and any(BAD_BYTES in v for v in values)):  # only once a bad byte was met
                    values = [_ROW_ERROR, str(InputError(
                        "bytes not valid in the file's encoding (UTF-8 or GBK): re-export the file",
                        file=path.name, row=n))]
                yield n, values
        return header, records()
    if fmt == "excel":
        from python_calamine import CalamineWorkbook

        try:
            wb = CalamineWorkbook.from_path(str(path))
            rows = wb.get_sheet_by_index(0).iter_rows()
            header = [str(h).strip() for h in next(rows, [])]
        except Exception as exc:  # calamine raises its own error types for broken files
            raise InputError(f"cannot read Excel workbook: {exc}", file=str(path)) from exc
        return header, ((n, [_cell_text(v) for v in values]) for n, values in enumerate(rows, start=2))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow.ArrowInvalid and friends
            raise InputError(f"cannot read Parquet file: {exc}", file=str(path)) from exc
        header = list(pf.schema_arrow.names)

        def rows() -> Iterator[tuple[int, list[Any]]]:
            n = 1
            for batch in pf.iter_batches(batch_size=65536):
                columns = [[_cell_text(v) for v in col.to_pylist()] for col in batch.columns]
                for values in zip(*columns, strict=True):
                    n += 1
                    yield n, list(values)
        return header, rows()
    raise InputError(f"format '{fmt}' is not a table", file=str(path))


def _flat_json_table(first: tuple[int, Any], rest: Iterator[tuple[int, Any]]) -> Table:
    """Flat drug-line JSONL as a table whose header is the first line's keys."""
    header = list(first[1])

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for n, raw in itertools.chain([first], rest):
            if isinstance(raw, dict):
                yield n, ["" if raw.get(h) is None else str(raw.get(h)) for h in header]
            else:
                yield n, [_ROW_ERROR, str(raw) if isinstance(raw, InputError) else "a drug line must be an object"]
    return header, rows()


_ROW_ERROR = "\x00error"  # marks a line that could not be parsed at all (its message follows)


def _cell_text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


_DIAG = re.compile(r"^(?P<name>.*?)[\(（]?(?P<icd>[A-Z]\d{2}(?:\.[0-9A-Z]{1,4})?)?[\)）]?$")


def parse_diagnoses(text: str, codes: str = "") -> list[dict[str, str | None]]:
    """'原发性高血压(I10);2型糖尿病(E11.9)' (or names and a parallel code column) → diagnosis dicts."""
    return [{"name": name, "icd10": icd} for name, icd in _parse_diagnoses(text, codes)]


@lru_cache(maxsize=8192)
def _parse_diagnoses(text: str, codes: str) -> tuple[tuple[str, str | None], ...]:
    names = [p.strip() for p in re.split(r"[;；,，、|]", text or "") if p.strip()]
    icds = [c.strip().upper() for c in re.split(r"[;；,，、|\s]+", codes or "") if c.strip()]
    out = []
    for i, part in enumerate(names):
        m = _DIAG.match(part)
        name, icd = (m.group("name").strip(), m.group("icd")) if m else (part, None)
        if not icd and i < len(icds):
            icd = icds[i]
        out.append((name or part, icd))
    for extra in icds[len(names):]:
        out.append(("", extra))
    return tuple(out)


_TRUE = {"1", "是", "true", "yes", "y", "t", "孕", "妊娠"}
_FALSE = {"0", "否", "false", "no", "n", "f", "无", ""}


def _number(value: str, name: str) -> float | None:
    if value in ("", None):
        return None
    try:
        x = float(str(value).replace(",", "").strip())
    except ValueError as exc:
        raise ValueError(f"field '{name}': '{value}' is not a number") from exc
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"field '{name}': '{value}' is not a finite number")
    return x


def _bool(value: str, name: str) -> bool | None:
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return None if v == "" else False
    raise ValueError(f"field '{name}': '{value}' is not yes/no (是/否, 1/0)")


def _field_index(header: list[str], columns: dict[str, str]) -> dict[str, int]:
    """field → column position (the first column mapped to a field wins)."""
    out: dict[str, int] = {}
    for i, name in enumerate(header):
        f = columns.get(str(name).strip())
        if f and f not in out:
            out[f] = i
    return out


def _row_record(values: list[Any], fields: dict[str, int]) -> dict[str, str]:
    out: dict[str, str] = {}
    for f, i in fields.items():
        if i < len(values):
            v = values[i]
            v = v.strip() if isinstance(v, str) else ("" if v is None else str(v).strip())
            if v:
                out[f] = v
    return out


def _build_case(rx_id: str, rows: list[tuple[int, dict[str, str]]], path: Path) -> CaseInput:
    """Build one prescription from its rows; unreadable rows become error rows, the rest is audited."""
    first = rows[0][1]
    refs: list[RowRef] = []
    items: list[PrescriptionItem] = []
    for n, r in rows:
        ref = RowRef(line=n, drug=r.get("drug", ""))
        try:
            if not r.get("drug"):
                raise ValueError("field 'drug' (药品名称) is empty")
            item: dict[str, Any] = {}
            for f in _LINE_FIELDS:
                if f in r:
                    item[f] = _number(r[f], f) if f in _NUMBER_FIELDS else r[f]
            item["line"] = n
            validated = PrescriptionItem.model_validate(item)
        except (ValueError, ValidationError) as exc:
            msg = _validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
            ref.error = str(InputError(msg, file=path.name, row=n))
        else:
            ref.item = len(items)
            items.append(validated)  # a validated record is not validated again inside the case
        refs.append(ref)
    base = {"prescriber": first.get("prescriber"), "department": first.get("department")}
    try:
        patient: dict[str, Any] = {}
        for f in ("age", "weight_kg"):
            if f in first:
                patient[f] = _number(first[f], f)
        for f in ("pregnant", "lactating"):
            if f in first:
                patient[f] = _bool(first[f], f)
        if "sex" in first:
            patient["sex"] = first["sex"]
        if "patient_id" in first:
            patient["id"] = first["patient_id"]
        if "allergies" in first:
            patient["allergies"] = first["allergies"]
        if "diagnoses" in first or "icd10" in first:
            patient["diagnoses"] = parse_diagnoses(first.get("diagnoses", ""), first.get("icd10", ""))
        labs = {k: _number(first[k], k) for k in LAB_NAMES if k in first}
        patient["labs"] = {k: v for k, v in labs.items() if v is not None}
        rx = {"id": rx_id, "items": items, "kind": first.get("kind") or None, "reason": first.get("reason"),
              "date": first.get("date"), **base}
        case = AuditCase.model_validate({"id": rx_id, "patient": patient, "prescription": rx})
    except (ValueError, ValidationError) as exc:
        msg = _validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
        err = str(InputError(msg, file=path.name, row=rows[0][0]))
        for ref in refs:
            ref.error = ref.error or err
            ref.item = None
        return CaseInput(id=rx_id, case=None, rows=refs, error=err, **base)
    return CaseInput(id=rx_id, case=case, rows=refs, **base)


_SEEN_IDS = 20_000
"""How many recent prescription ids are remembered to warn about an id that reappears."""


def _iter_grouped(path: Path, table: Table, columns: dict[str, str]) -> Iterator[RawUnit]:
    """Group consecutive rows by prescription id; a row without an id or a reused id is reported."""
    header, rows = table
    if not header:
        log.warning("%s is empty: no header row, no rows", path.name)
        return
    fields = _field_index(header, columns)
    missing = [f for f in ("rx_id", "drug") if f not in fields]
    if missing:
        raise InputError(
            f"required column(s) missing: {', '.join(missing)} (e.g. 处方号, 药品名称); columns found: "
            f"{', '.join(header)}; map others with --columns", file=str(path))
    rx_col, width = fields["rx_id"], len(header)
    current: str | None = None
    group: list[tuple[int, list[Any]]] = []
    # ids of the last _SEEN_IDS prescriptions only: a set of every id would grow with the file
    seen: set[str] = set()
    recent: deque[str] = deque()
    reappeared = 0
    pending: list[RawUnit] = []
    for n, values in rows:
        if values and values[0] == _ROW_ERROR:
            problem, rx_id = values[1], ""
        else:
            if not any(str(v).strip() for v in values if v is not None):
                continue  # an empty line in the export
            rx_id = str(values[rx_col]).strip() if rx_col < len(values) else ""
            problem = ("row has more cells than the header" if len(values) > width
                       else None if rx_id else "prescription id (处方号) is empty")
        if problem:
            # reported after the prescription being read, so the output keeps file order
            drug = _row_record(values, fields).get("drug", "") if values[:1] != [_ROW_ERROR] else ""
            msg = problem if values[:1] == [_ROW_ERROR] else str(
                InputError(problem, file=path.name, row=n, field=None if rx_id else "rx_id"))
            pending.append(_error_unit(path, rx_id or f"row-{n}", n, drug, msg))
            continue
        if rx_id != current:
            if group:
                yield RawUnit("rows", path.name, (current, fields, group))
            yield from pending
            pending = []
            if rx_id in seen:
                reappeared += 1
                if reappeared <= 10:  # a sorted-by-drug export would otherwise log every row
                    log.warning("prescription id reappears after other prescriptions (row %d)%s", n,
                                "; further ones not logged" if reappeared == 10 else "")
            if rx_id not in seen:
                seen.add(rx_id)
                recent.append(rx_id)
                if len(recent) > _SEEN_IDS:
                    seen.discard(recent.popleft())
            current, group = rx_id, []
        group.append((n, values))
    if group:
        yield RawUnit("rows", path.name, (current, fields, group))
    yield from pending


def _error_unit(path: Path, unit_id: str, line: int, drug: str, msg: str) -> RawUnit:
    return RawUnit("error", path.name, CaseInput(id=unit_id, case=None,
                                                 rows=[RowRef(line=line, drug=drug, error=msg)], error=msg))


def iter_units(path: str | Path, columns: dict[str, str] | None = None, fmt: str | None = None
               ) -> Iterator[RawUnit]:
    """Every unit of work in a file, in file order, not yet validated (see :func:`build_unit`).

    Raises :class:`InputError` only when the file as a whole is unreadable (missing, wrong type,
    no required columns); bad rows come back as units that build into error cases.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=str(path))
    fmt = fmt or detect_format(path)
    columns = columns or DEFAULT_COLUMNS
    if fmt in {"jsonl", "json"}:
        it = _iter_nested(path, fmt)
        first = next(it, None)
        if first is None:
            return
        _n, raw = first
        if isinstance(raw, dict) and "prescription" not in raw and "drug" in {columns.get(k) for k in raw}:
            yield from _iter_grouped(path, _flat_json_table(first, it), columns)  # flat drug lines
            return
        yield RawUnit("nested", path.name, first)
        for pair in it:
            yield RawUnit("nested", path.name, pair)
        return
    yield from _iter_grouped(path, _open_table(path, fmt), columns)


def build_unit(unit: RawUnit) -> CaseInput:
    """Validate a unit into a case (or an error case naming file, row and field)."""
    if unit.kind == "error":
        return unit.payload
    if unit.kind == "nested":
        n, raw = unit.payload
        return _case_from_nested(n, raw, Path(unit.file))
    rx_id, fields, rows = unit.payload
    return _build_case(rx_id, [(n, _row_record(values, fields)) for n, values in rows], Path(unit.file))


def iter_cases(path: str | Path, columns: dict[str, str] | None = None, fmt: str | None = None
               ) -> Iterator[CaseInput]:
    """:func:`iter_units` built into cases in this process (the batch runner builds in its workers)."""
    return map(build_unit, iter_units(path, columns, fmt))
