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
import datetime as dt
import itertools
import json
import logging
import math
import re
import zipfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from toolkit.errors import InputError, require
from toolkit.labels import INPUT_ERRORS, field_label
from toolkit.records import LAB_NAMES, AuditCase, PrescriptionItem
from toolkit.units import normalize_route, normalize_unit, parse_age, parse_frequency

log = logging.getLogger(__name__)

ENCODINGS = ("utf-8-sig", "gb18030")
"""Tried in order. GB18030 is a superset of GBK and GB2312, so it reads all three."""

HIS_COLUMN_SYNONYMS: dict[str, tuple[str, ...]] = {
    # field: the column names Chinese HIS exports use for it (东软, 卫宁, 创业慧康, 金蝶, 方正 …门诊处方明细 /
    # 处方点评导出), the project's own English names last. Documented in the README (批量审方: 列名).
    # prescription
    "rx_id": ("处方号", "处方编号", "处方ID", "处方单号", "处方流水号", "处方序号", "rx_id", "id"),
    "kind": ("处方类型", "处方类别", "处方分类", "kind"),
    "prescriber": (
        "医生",
        "开方医生",
        "医生姓名",
        "开单医生",
        "处方医生",
        "开立医生",
        "医师",
        "开方医师",
        "处方医师",
        "医师姓名",
        "prescriber",
    ),
    "department": ("科室", "科室名称", "就诊科室", "开方科室", "开单科室", "门诊科室", "department"),
    "date": ("开方日期", "处方日期", "开单日期", "开方时间", "处方时间", "开立时间", "就诊日期", "date"),
    "reason": ("理由", "备注理由", "超量理由", "reason"),
    # patient
    "patient_id": (
        "患者",
        "患者ID",
        "患者编号",
        "病人ID",
        "病人编号",
        "门诊号",
        "病历号",
        "就诊卡号",
        "patient_id",
    ),
    "age": ("年龄", "患者年龄", "病人年龄", "age"),
    "birth_date": ("出生日期", "出生年月日", "生日", "birth_date"),
    "sex": ("性别", "患者性别", "病人性别", "sex"),
    "weight_kg": ("体重", "体重kg", "体重(kg)", "weight_kg"),
    "pregnant": ("妊娠", "是否妊娠", "孕妇", "pregnant"),
    "lactating": ("哺乳", "是否哺乳", "哺乳期", "lactating"),
    "allergies": ("过敏史", "药物过敏史", "过敏药物", "过敏信息", "allergies"),
    "current_medications": (
        "在用药品",
        "在用药物",
        "当前用药",
        "目前用药",
        "合并用药",
        "长期用药",
        "current_medications",
    ),
    "diagnoses": ("诊断", "诊断名称", "临床诊断", "门诊诊断", "diagnoses"),
    "icd10": ("诊断编码", "诊断代码", "ICD编码", "ICD10", "ICD-10", "icd10"),
    # drug line
    "drug": ("药品名称", "药品", "药名", "药品通用名", "通用名", "通用名称", "drug"),
    "code": ("药品编码", "药品代码", "药品ID", "药品编号", "code"),
    "strength": ("规格", "药品规格", "strength"),
    "dose": ("单次剂量", "剂量", "每次用量", "单次用量", "用量", "每次剂量", "一次用量", "dose"),
    "unit": ("剂量单位", "单位", "用量单位", "单次剂量单位", "每次用量单位", "unit"),
    "frequency": ("频次", "用药频次", "给药频率", "给药频次", "频率", "用药频率", "执行频次", "frequency"),
    "route": ("给药途径", "用法", "给药方式", "用药途径", "途径", "route"),
    "usage": ("用法用量", "usage"),
    "days": ("天数", "用药天数", "疗程", "疗程(天)", "days"),
    "quantity": ("数量", "总量", "发药数量", "开药数量", "quantity"),
    "quantity_unit": ("数量单位", "包装单位", "发药单位", "quantity_unit"),
    "skin_test": ("皮试", "皮试结果", "skin_test"),
    "note": ("备注", "用药说明", "嘱托", "医嘱备注", "note"),
    # labs (units as in toolkit.records.LAB_NAMES)
    "egfr": ("eGFR", "肾小球滤过率", "估算肾小球滤过率"),
    "crcl": ("肌酐清除率", "CrCl", "Ccr"),
    "scr": ("血肌酐", "肌酐", "Scr", "Cr"),
    "potassium": ("血钾", "钾", "K"),
    "sodium": ("血钠", "钠", "Na"),
    "alt": ("ALT", "谷丙转氨酶", "丙氨酸氨基转移酶"),
    "ast": ("AST", "谷草转氨酶", "天门冬氨酸氨基转移酶"),
    "tbil": ("总胆红素", "TBIL"),
    "hba1c": ("糖化血红蛋白", "HbA1c"),
    "fpg": ("空腹血糖", "FPG"),
    "inr": ("INR", "国际标准化比值"),
    "uric_acid": ("尿酸", "血尿酸", "UA"),
    "hb": ("血红蛋白", "Hb", "HGB"),
    "plt": ("血小板", "PLT"),
    "wbc": ("白细胞", "WBC"),
    "tsh": ("促甲状腺激素", "TSH"),
    "qtc": ("QTc",),
}
"""Field → the column names HIS exports use for it (see the README's table)."""

DEFAULT_COLUMNS: dict[str, str] = {
    **{name: name for name in LAB_NAMES},
    **{col: f for f, cols in HIS_COLUMN_SYNONYMS.items() for col in cols},
}
"""Source column → field. Extend or replace it with ``--columns map.yaml``."""

MAX_ITEMS = 100
"""Drug lines one prescription may have (a real one has at most a few dozen); a case over it is an error
row naming the limit, because the interaction and duplicate checks grow with the square of the lines.
Configurable: ``BatchOptions.max_items`` / ``clinic audit --max-items``."""

_LINE_FIELDS = (
    "drug",
    "code",
    "strength",
    "dose",
    "unit",
    "frequency",
    "route",
    "days",
    "quantity",
    "quantity_unit",
    "skin_test",
    "note",
)
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
    notes: list[str] = field(default_factory=list)  # e.g. this 处方号 was already seen at other rows
    # kept for the reader but not a reason to review: the age as written (月龄), fields and labs the
    # engine does not use (an extra field never costs the case)
    remarks: list[str] = field(default_factory=list)


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
            raise InputError(
                f"unknown field '{dst}' for column '{src}'; allowed: {', '.join(sorted(allowed))}",
                file=str(p),
                field=str(src),
            )
        mapping[str(src)] = dst
    return mapping


def detect_format(path: Path) -> str:
    """The input format named by the file's suffix (jsonl, json, csv, tsv, excel, parquet), or InputError."""
    suffix = path.suffix.lower()
    formats = {
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "json",
        ".csv": "csv",
        ".tsv": "tsv",
        ".xlsx": "excel",
        ".xls": "excel",
        ".xlsm": "excel",
        ".parquet": "parquet",
        ".pq": "parquet",
    }
    if suffix not in formats:
        raise InputError(
            f"unsupported file type '{suffix}'; use one of {', '.join(sorted(formats))}", file=str(path)
        )
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
        raise InputError(
            "file holds NUL bytes: not a UTF-8 or GBK text (UTF-16 or binary?); re-export as UTF-8 or GBK",
            file=str(path),
        )
    for enc in ENCODINGS:
        try:
            text = head.decode(enc)
        except UnicodeDecodeError as exc:
            if cut and exc.start > len(head) - 4:  # a multi-byte character cut by the 64 KiB window
                text = head[: exc.start].decode(enc, errors="replace")
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
    if head.startswith(b"\xef\xbb\xbf") or not any(
        0x80 <= ord(c) < 0x800 and c not in _PLAUSIBLE_UTF8 for c in text
    ):
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
        except RecursionError as exc:
            raise InputError("JSON nested too deeply", file=str(path)) from exc
        records = (
            data if isinstance(data, list) else data.get("cases", [data]) if isinstance(data, dict) else None
        )
        if records is None:
            raise InputError('JSON must be a case, a list of cases or {"cases": [...]}', file=str(path))
        yield from enumerate(records, start=1)
        return
    for n, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        if BAD_BYTES in line:
            yield (
                n,
                InputError("bytes not valid in the file's encoding (UTF-8 or GBK)", file=path.name, row=n),
            )
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, InputError(f"not valid JSON: {exc.msg} (column {exc.colno})", file=path.name, row=n)
            continue
        except RecursionError:  # nesting past Python's recursion limit (≈1,000 levels)
            yield n, InputError("JSON nested too deeply", file=path.name, row=n)
            continue
        if _SURROGATE_ESCAPE.search(line) and not _encodable(value):
            yield (
                n,
                InputError(
                    "JSON holds a lone surrogate (\\ud800–\\udfff escape without its pair): "
                    "not valid Unicode",
                    file=path.name,
                    row=n,
                ),
            )
            continue
        yield n, value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _encodable(value: Any) -> bool:
    """True when ``value`` (parsed JSON) can be written back as UTF-8 (no lone surrogate)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError, ValueError):
        return False
    return True


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(x) for x in e["loc"])
        parts.append(f"field '{loc}': {e['msg']}")
    return "; ".join(parts)


def _case_from_nested(n: int, raw: Any, path: Path, max_items: int = MAX_ITEMS) -> CaseInput:
    if isinstance(raw, InputError):
        return CaseInput(id=f"line-{n}", case=None, rows=[RowRef(line=n, error=str(raw))], error=str(raw))
    if not isinstance(raw, dict):
        msg = str(InputError("a case must be a JSON object", file=path.name, row=n))
        return CaseInput(id=f"line-{n}", case=None, rows=[RowRef(line=n, error=msg)], error=msg)
    case_id = str(raw.get("id") or f"line-{n}")
    raw = {**raw, "id": case_id}
    items = (
        (raw.get("prescription") or {}).get("items") or []
        if isinstance(raw.get("prescription"), dict)
        else []
    )
    if isinstance(items, list) and len(items) > max_items:
        msg = str(
            InputError(
                f"{len(items)} drug lines in one prescription: over the limit of {max_items} (max_items)",
                file=path.name,
                row=n,
                field="prescription.items",
            )
        )
        return CaseInput(id=case_id, case=None, rows=[RowRef(line=n, error=msg)], error=msg)
    remarks: list[str] = []
    raw = set_aside_extras(raw, remarks)
    try:
        case = AuditCase.model_validate(raw)
    except ValidationError as exc:
        msg = str(InputError(_validation_message(exc), file=path.name, row=n))
        return CaseInput(id=case_id, case=None, rows=[RowRef(line=n, error=msg)], error=msg, remarks=remarks)
    rows = [
        RowRef(line=n, drug=str(it.get("drug", "")) if isinstance(it, dict) else "", item=i)
        for i, it in enumerate(items)
    ] or [RowRef(line=n)]
    return CaseInput(
        id=case_id,
        case=case,
        rows=rows,
        prescriber=case.prescription.prescriber,
        department=case.prescription.department,
        remarks=remarks,
    )


def _known(model: type) -> set[str]:
    return set(model.model_fields)  # type: ignore[attr-defined]


def set_aside_extras(raw: dict[str, Any], remarks: list[str]) -> dict[str, Any]:
    """The case without the fields and labs the engine does not know, each named in ``remarks``.

    A batch case is never lost for an extra field (an HIS adds its own: 医保类型, ft4, calcium …):
    unknown keys of the case, patient, prescription, drug lines and vitals, unknown labs, lab dates and
    record sections are set aside with a note; known fields are still validated strictly. (The service's
    single-case API keeps refusing extra fields: a request names exactly what it means.)
    """
    from toolkit.records import EXAM_NAMES, RECORD_SECTIONS, Patient, Prescription, Vitals

    dropped: list[str] = []

    def keep(obj: Any, allowed: set[str], where: str) -> Any:
        if not isinstance(obj, dict):
            return obj
        extra = [k for k in obj if k not in allowed]
        dropped.extend(f"{where}{k}" for k in extra)
        return {k: v for k, v in obj.items() if k in allowed} if extra else obj

    out = keep(raw, _known(AuditCase), "")
    patient = out.get("patient")
    if isinstance(patient, dict):
        patient = keep(patient, _known(Patient), "patient.")
        labs = patient.get("labs")
        if isinstance(labs, dict):
            unknown = [k for k in labs if k not in LAB_NAMES]
            if unknown:
                remarks.append(
                    f"{INPUT_ERRORS['unknown_lab']}：" + "、".join(f"{k}={labs[k]}" for k in unknown)
                )
                patient = {**patient, "labs": {k: v for k, v in labs.items() if k in LAB_NAMES}}
        if isinstance(patient.get("lab_dates"), dict):
            patient = {
                **patient,
                "lab_dates": keep(patient["lab_dates"], {*LAB_NAMES, *EXAM_NAMES}, "patient.lab_dates."),
            }
        out = {**out, "patient": patient}
    rx = out.get("prescription")
    if isinstance(rx, dict):
        rx = keep(rx, _known(Prescription), "prescription.")
        if isinstance(rx.get("items"), list):
            rx = {
                **rx,
                "items": [
                    keep(it, _known(PrescriptionItem), f"prescription.items[{i}].")
                    for i, it in enumerate(rx["items"])
                ],
            }
        out = {**out, "prescription": rx}
    if isinstance(out.get("vitals"), dict):
        out = {**out, "vitals": keep(out["vitals"], _known(Vitals), "vitals.")}
    if isinstance(out.get("record"), dict):
        out = {**out, "record": keep(out["record"], set(RECORD_SECTIONS), "record.")}
    if dropped:
        remarks.append(
            f"未识别的字段（已忽略，未参与审核）：{'、'.join(dropped[:20])}"
            + (f" 等 {len(dropped)} 个" if len(dropped) > 20 else "")
        )
    return out


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
                    values = [
                        _ROW_ERROR,
                        str(InputError(f"unreadable CSV record: {exc}", file=path.name, row=n)),
                    ]
                if (
                    decode_errors() != clean
                    and values[:1] != [_ROW_ERROR]
                    and any(BAD_BYTES in v for v in values)
                ):  # only once a bad byte was met
                    values = [
                        _ROW_ERROR,
                        str(
                            InputError(
                                "bytes not valid in the file's encoding (UTF-8 or GBK): re-export the file",
                                file=path.name,
                                row=n,
                            )
                        ),
                    ]
                yield n, values

        return header, records()
    if fmt == "excel":
        return _open_excel(path, _plan_xlsx(path) if zipfile.is_zipfile(path) else None)
    if fmt == "parquet":
        pq = require("pyarrow.parquet", "parquet")

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


# --------------------------------------------------------------------------- Excel with bounded memory

MAX_XLSX_CELLS = 20_000_000
"""Cells a worksheet may declare (its ``<dimension>``: rows × columns) or hold; over it the sheet is
refused before anything is allocated. Export such a file as CSV instead (read as a stream)."""
MAX_XLSX_COLUMNS = 1_000
"""Columns a worksheet may span (an HIS export has a few dozen)."""
XLSX_IN_MEMORY_BYTES = 16 << 20
"""A sheet whose XML is larger than this (uncompressed) is streamed (openpyxl read-only) instead of
loaded whole (calamine, faster but its memory grows with the sheet's range)."""
_IN_MEMORY_CELLS = 2_000_000


@dataclass(frozen=True)
class XlsxPlan:
    """What the pre-scan of an .xlsx found: the first worksheet, how to read it, and the other sheets."""

    sheet: str
    stream: bool
    refused: str | None = None  # why the sheet is not read at all
    ignored: tuple[tuple[str, int], ...] = ()  # other worksheets holding cells: (name, cell count)


_REF = re.compile(rb'<(?:c|row)\b[^>]*?\br="([A-Z]{0,3})(\d{1,9})"')
_DIMENSION = re.compile(rb'<dimension\b[^>]*?\bref="([A-Z]{1,3})?(\d{1,9})?(?::([A-Z]{1,3})(\d{1,9}))?"')


def _col_number(letters: bytes | str) -> int:
    n = 0
    for ch in letters.decode() if isinstance(letters, bytes) else letters:
        n = n * 26 + ord(ch) - 64
    return n


def _sheet_parts(zf: Any) -> list[tuple[str, str]]:
    """(sheet name, zip part) of every worksheet in workbook order."""
    import posixpath
    import xml.etree.ElementTree as ET

    ns_main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    ns_rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    wb = ET.fromstring(zf.read("xl/workbook.xml"))
    rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    out = []
    for sheet in wb.iter(f"{ns_main}sheet"):
        target = targets.get(sheet.get(f"{ns_rel}id"), "")
        part = (
            target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        )
        out.append((sheet.get("name", ""), part))
    return out


def _scan_sheet(zf: Any, part: str) -> tuple[int, int, int, int]:
    """(declared cells, cells, highest row, highest column) of one worksheet, read as a stream."""
    info = zf.getinfo(part)
    declared = cells = max_row = max_col = 0
    tail = b""
    with zf.open(info) as fh:
        first = True
        while block := fh.read(1 << 20):
            data = tail + block
            if first:
                m = _DIMENSION.search(data[:4096])
                if m and m.group(3):
                    rows = int(m.group(4)) - int(m.group(2) or 1) + 1
                    cols = _col_number(m.group(3)) - _col_number(m.group(1) or b"A") + 1
                    declared = max(rows, 0) * max(cols, 0)
                    max_row, max_col = int(m.group(4)), _col_number(m.group(3))
                first = False
            cells += block.count(b"<c ") + block.count(b"<c>")
            if info.file_size <= XLSX_IN_MEMORY_BYTES:  # small enough to look at every reference
                # the tail of the previous block is scanned again (a reference cut by the block boundary
                # is whole there); taking a maximum twice changes nothing
                for col, row in _REF.findall(data):
                    max_row = max(max_row, int(row))
                    if col:
                        max_col = max(max_col, _col_number(col))
            tail = data[-512:]
    return declared, cells, max_row, max_col


def _plan_xlsx(path: Path) -> XlsxPlan:
    """Look at the workbook's parts before reading it: refuse a sheet over the limits, choose stream or
    memory for the first worksheet, and list the other worksheets (not read) that hold cells."""
    try:
        with zipfile.ZipFile(path) as zf:
            sheets = _sheet_parts(zf)
            if not sheets:
                raise InputError("workbook has no worksheet", file=str(path))
            name, part = sheets[0]
            declared, cells, max_row, max_col = _scan_sheet(zf, part)
            size = zf.getinfo(part).file_size
            ignored = []
            for other, other_part in sheets[1:]:
                n = _scan_sheet(zf, other_part)[1] if other_part in zf.namelist() else 0
                if n:
                    ignored.append((other, n))
    except InputError:
        raise
    except Exception as exc:  # not an xlsx zip (xls is read by calamine), or a broken one
        raise InputError(f"cannot read Excel workbook: {type(exc).__name__}: {exc}", file=str(path)) from exc
    refused = None
    span = max_row * max_col
    if max_col > MAX_XLSX_COLUMNS:
        refused = f"sheet '{name}' spans {max_col} columns: over the limit of {MAX_XLSX_COLUMNS}"
    elif max(declared, cells) > MAX_XLSX_CELLS:
        refused = (
            f"sheet '{name}' declares or holds {max(declared, cells):,} cells: over the limit of "
            f"{MAX_XLSX_CELLS:,}"
        )
    if refused:
        refused += " (MAX_XLSX_CELLS / MAX_XLSX_COLUMNS); export the sheet as CSV, which is read as a stream"
    stream = size > XLSX_IN_MEMORY_BYTES or span > _IN_MEMORY_CELLS or declared > _IN_MEMORY_CELLS
    return XlsxPlan(sheet=name, stream=stream, refused=refused, ignored=tuple(ignored))


def _trimmed(values: list[Any]) -> list[Any]:
    while values and values[-1] in (None, ""):
        values.pop()
    return values


class _SheetRefused(Exception):
    """The worksheet is over a limit: the file becomes one error row (see :func:`iter_units`)."""


def _open_excel(path: Path, plan: XlsxPlan | None) -> Table:
    """The first worksheet as a table; a refused sheet is one error row, other sheets are reported as
    ignored (an error row each, after the rows, so they show in the report)."""
    if plan is not None and plan.refused:
        log.warning("%s: %s", path.name, plan.refused)
        raise _SheetRefused(str(InputError(plan.refused, file=path.name)))
    tail = []
    if plan is not None and plan.ignored:
        for other, n in plan.ignored:
            log.warning(
                "%s: worksheet '%s' (%d cells) not read: only the first worksheet is audited",
                path.name,
                other,
                n,
            )
            tail.append(
                (
                    0,
                    [
                        _ROW_ERROR,
                        str(
                            InputError(
                                f"worksheet '{other}' ({n} cells) was not read: only the first worksheet ('{plan.sheet}') is "
                                "audited; save each sheet as its own file",
                                file=path.name,
                            )
                        ),
                    ],
                )
            )
    try:
        if plan is not None and plan.stream:
            from openpyxl import load_workbook

            wb = load_workbook(path, read_only=True, data_only=True)
            sheet = wb.worksheets[0]
            sheet.reset_dimensions()  # the declared <dimension> may be wrong: read every row and cell there is
            rows: Iterator[Any] = sheet.iter_rows(values_only=True)
        else:
            from python_calamine import CalamineWorkbook

            rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).iter_rows()
        header = [str(h).strip() if h is not None else "" for h in _trimmed(list(next(rows, [])))]
    except Exception as exc:  # calamine and openpyxl raise their own error types for broken files
        raise InputError(f"cannot read Excel workbook: {exc}", file=str(path)) from exc

    def records() -> Iterator[tuple[int, list[Any]]]:
        for n, values in enumerate(rows, start=2):
            yield n, _trimmed([_cell_text(v) for v in values])
        yield from tail

    return header, records()


def _flat_json_table(first: tuple[int, Any], rest: Iterator[tuple[int, Any]]) -> Table:
    """Flat drug-line JSONL as a table whose header is the first line's keys."""
    header = list(first[1])

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for n, raw in itertools.chain([first], rest):
            if isinstance(raw, dict):
                yield n, ["" if raw.get(h) is None else str(raw.get(h)) for h in header]
            else:
                yield (
                    n,
                    [
                        _ROW_ERROR,
                        str(raw) if isinstance(raw, InputError) else "a drug line must be an object",
                    ],
                )

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
    for extra in icds[len(names) :]:
        out.append(("", extra))
    return tuple(out)


_TRUE = {"1", "是", "true", "yes", "y", "t", "孕", "妊娠"}
_FALSE = {"0", "否", "false", "no", "n", "f", "无", ""}


MAX_NUMBER_CHARS = 32
"""Longest numeric text read (a 19,999-digit 'number' is refused before any conversion)."""
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def _number(value: str, name: str) -> float | None:
    """A number cell. A comma is a thousands separator only in groups of three digits (``1,000``,
    ``12,345.5``); any other comma (``2,5``: a decimal comma, or ``1,00``) is refused with an error
    naming the field, never read as 25 — a European decimal comma cannot be told from a typo."""
    if value in ("", None):
        return None
    text = str(value).strip()
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(
            f"field {field_label(name)}: {len(text)} 个字符，数字过长（too long，上限 {MAX_NUMBER_CHARS}）"
        )
    if "," in text or "，" in text:
        if not _THOUSANDS.fullmatch(text):
            raise ValueError(
                f"field {field_label(name)}: '{text}' 中的逗号（comma）不是千位分隔符；"
                f"如为小数请写小数点（如 {text.replace(',', '.').replace('，', '.')}）"
            )
        text = text.replace(",", "")
    try:
        x = float(text)
    except ValueError as exc:
        raise ValueError(f"field {field_label(name)}: '{value}' {INPUT_ERRORS['not_a_number']}") from exc
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"field {field_label(name)}: '{value}' 不是有限的数字（not finite）")
    return x


def _bool(value: str, name: str) -> bool | None:
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return None if v == "" else False
    raise ValueError(f"field {field_label(name)}: '{value}' {INPUT_ERRORS['not_yes_no']}")


def _header_key(name: Any) -> str:
    return str(name).strip().replace("（", "(").replace("）", ")").replace(" ", "")


def column_field(name: Any, columns: dict[str, str]) -> str | None:
    """The field a source column maps to: exact, then with full-width brackets and spaces normalised,
    then ignoring case (``ALT``/``alt``); ``None`` for a column the map does not know."""
    raw = str(name).strip()
    if raw in columns:
        return columns[raw]
    key = _header_key(raw)
    if key in columns:
        return columns[key]
    lowered = {_header_key(k).lower(): v for k, v in columns.items()}
    return lowered.get(key.lower())


def _field_index(header: list[str], columns: dict[str, str]) -> dict[str, int]:
    """field → column position (the first column mapped to a field wins)."""
    out: dict[str, int] = {}
    for i, name in enumerate(header):
        f = column_field(name, columns)
        if f and f not in out:
            out[f] = i
    return out


def unmapped_columns(header: list[str], columns: dict[str, str]) -> list[str]:
    """Columns of a header that map to no field, and columns mapped to a field another column already
    gave (each listed once, in header order)."""
    seen: set[str] = set()
    out: list[str] = []
    for name in header:
        text = str(name).strip()
        if not text:
            continue
        f = column_field(text, columns)
        if f is None or f in seen:
            out.append(text if f is None else f"{text}（与前一列同为 {f}，未使用）")
        elif f:
            seen.add(f)
    return list(dict.fromkeys(out))


def _row_record(values: list[Any], fields: dict[str, int]) -> dict[str, str]:
    out: dict[str, str] = {}
    for f, i in fields.items():
        if i < len(values):
            v = values[i]
            v = v.strip() if isinstance(v, str) else ("" if v is None else str(v).strip())
            if v:
                out[f] = v
    return out


def _build_case(
    rx_id: str, rows: list[tuple[int, dict[str, str]]], path: Path, max_items: int = MAX_ITEMS
) -> CaseInput:
    """Build one prescription from its rows; unreadable rows become error rows, the rest is audited."""
    first = rows[0][1]
    if len(rows) > max_items:
        err = str(
            InputError(
                f"{len(rows)} drug lines share this 处方号 (rows {rows[0][0]}–{rows[-1][0]}): over "
                f"the limit of {max_items} lines per prescription (max_items)",
                file=path.name,
                row=rows[0][0],
                field="rx_id",
            )
        )
        refs = [RowRef(line=n, drug=r.get("drug", ""), error=err) for n, r in rows]
        return CaseInput(
            id=rx_id,
            case=None,
            rows=refs,
            error=err,
            prescriber=first.get("prescriber"),
            department=first.get("department"),
        )
    refs: list[RowRef] = []
    items: list[PrescriptionItem] = []
    for n, r in rows:
        ref = RowRef(line=n, drug=r.get("drug", ""))
        try:
            if not r.get("drug"):
                raise ValueError(f"field {field_label('drug')}: {INPUT_ERRORS['empty_drug']}")
            item: dict[str, Any] = {}
            fields = (
                {**split_usage(r["usage"]), **r} if r.get("usage") else r
            )  # own columns win over 用法用量
            fields = with_units_split(fields)
            for f in _LINE_FIELDS:
                if f in fields:
                    item[f] = _number(fields[f], f) if f in _NUMBER_FIELDS else fields[f]
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
    remarks: list[str] = []
    try:
        patient: dict[str, Any] = {}
        age = patient_age(first.get("age"), first.get("birth_date"), first.get("date"), remarks)
        if age is not None:
            patient["age"] = age
        if "weight_kg" in first:
            patient["weight_kg"] = _number(first["weight_kg"], "weight_kg")
        for f in ("pregnant", "lactating"):
            if f in first:
                patient[f] = _bool(first[f], f)
        if "sex" in first:
            patient["sex"] = first["sex"]
        if "patient_id" in first:
            patient["id"] = first["patient_id"]
        if "allergies" in first:
            patient["allergies"] = first["allergies"]
        if "current_medications" in first:  # 在用药品 "华法林;阿司匹林": split by the Patient record
            patient["current_medications"] = first["current_medications"]
        if "diagnoses" in first or "icd10" in first:
            patient["diagnoses"] = parse_diagnoses(first.get("diagnoses", ""), first.get("icd10", ""))
        labs = {k: _number(first[k], k) for k in LAB_NAMES if k in first}
        patient["labs"] = {k: v for k, v in labs.items() if v is not None}
        rx = {
            "id": rx_id,
            "items": items,
            "kind": first.get("kind") or None,
            "reason": first.get("reason"),
            "date": first.get("date"),
            **base,
        }
        case = AuditCase.model_validate({"id": rx_id, "patient": patient, "prescription": rx})
    except (ValueError, ValidationError) as exc:
        msg = _validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
        err = str(InputError(msg, file=path.name, row=rows[0][0]))
        for ref in refs:
            ref.error = ref.error or err
            ref.item = None
        return CaseInput(id=rx_id, case=None, rows=refs, error=err, remarks=remarks, **base)
    return CaseInput(id=rx_id, case=case, rows=refs, remarks=remarks, **base)


_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[T\s].*)?|(\d{4})(\d{2})(\d{2})"
)


def parse_date(text: str | None) -> dt.date | None:
    """'2026-12-07', '2026/12/7', '2026年12月7日', '20261207', '2026-12-07 09:30:00' → date; else ``None``."""
    if not text:
        return None
    m = _DATE.fullmatch(str(text).strip())
    if not m:
        return None
    y, mo, d = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
    try:
        return dt.date(int(y), int(mo), int(d))
    except ValueError:
        return None


def patient_age(age: str | None, birth: str | None, visit: str | None, remarks: list[str]) -> float | None:
    """Years from ``年龄`` as written (76, 76岁, 8月, 3天, 2周, 1岁3个月) or from 出生日期 and 开方日期.

    An infant's age written in days, weeks or months is kept as written in ``remarks`` (处方管理办法
    第六条: 新生儿、婴幼儿写日、月龄). Raises ValueError naming the field for an age that cannot be read.
    """
    if age not in (None, ""):
        parsed = parse_age(age)
        if parsed is None:
            raise ValueError(f"field 'age'（年龄）: '{age}' {INPUT_ERRORS['bad_age']}")
        if parsed.infant:
            remarks.append(f"年龄按原文记录：{parsed.text}（日/月龄，处方管理办法第六条）")
        return parsed.years
    if birth in (None, ""):
        return None
    born = parse_date(birth)
    if born is None:
        raise ValueError(f"field 'birth_date'（出生日期）: '{birth}' {INPUT_ERRORS['bad_date']}")
    on = parse_date(visit)
    if on is None:
        remarks.append("有出生日期但无可读的开方日期，未计算年龄")
        return None
    days = (on - born).days
    if days < 0:
        raise ValueError(f"field 'birth_date'（出生日期）: {born.isoformat()} 晚于开方日期 {on.isoformat()}")
    years = days / 365.25
    if years > 130:
        raise ValueError(f"field 'birth_date'（出生日期）: {born.isoformat()} 距开方日期超过 130 年")
    if years < 1:
        months, rest = divmod(days, 30)
        remarks.append(f"年龄由出生日期计算：{f'{months}月' if months else ''}{rest}天（日/月龄）")
    return years


_DAYS_TEXT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:天|日|d)", re.IGNORECASE)


def with_units_split(fields: dict[str, str]) -> dict[str, str]:
    """HIS cells that carry their unit: 每次用量 ``0.5g`` (no 剂量单位 column) → dose 0.5 + unit g; 疗程 ``7天`` → 7."""
    out = fields
    dose = fields.get("dose", "")
    m = _USAGE_DOSE.fullmatch(dose) if dose and not fields.get("unit") else None
    if m and normalize_unit(m.group(2)) is not None:
        out = {**out, "dose": m.group(1), "unit": m.group(2)}
    days = fields.get("days", "")
    m = _DAYS_TEXT.fullmatch(days.strip()) if days else None
    if m:
        out = {**out, "days": m.group(1)}
    return out


_USAGE_DOSE = re.compile(r"(?:一次|每次|单次|每回)?\s*(\d+(?:\.\d+)?)\s*([a-zA-Zμµ\u4e00-\u9fff]{1,4})")


def split_usage(text: str) -> dict[str, str]:
    """A 用法用量 cell ("一次0.5g，一日3次，口服") → dose, unit, frequency, route; the rest → note.

    Only parts that parse are taken (a dose part needs a known unit); the whole text is kept as the note
    so nothing the prescriber wrote is lost.
    """
    out: dict[str, str] = {}
    for part in (p.strip() for p in re.split(r"[,，;；、]", text or "") if p.strip()):
        if "frequency" not in out and parse_frequency(part) is not None:
            out["frequency"] = part
            continue
        if "route" not in out and normalize_route(part) is not None:
            out["route"] = part
            continue
        m = _USAGE_DOSE.fullmatch(part)
        if "dose" not in out and m and normalize_unit(m.group(2)) is not None:
            out["dose"], out["unit"] = m.group(1), m.group(2)
    out["note"] = str(text).strip()
    return out


_SEEN_IDS = 20_000
"""How many recent prescription ids (with the rows of their first part) are remembered to flag an id that
reappears; an id that comes back after more other prescriptions than this is not noticed (memory stays
bounded: a few MB)."""


def _iter_grouped(
    path: Path,
    table: Table,
    columns: dict[str, str],
    max_items: int = MAX_ITEMS,
    notes: list[str] | None = None,
) -> Iterator[RawUnit]:
    """Group consecutive rows by prescription id; a row without an id or a reused id is reported.

    A 处方号 that reappears after other prescriptions is audited as a separate prescription (the file is
    streamed, not sorted), and its case carries a note naming the rows where the id was first seen, so
    the report shows both places (and the case is ``needs_review``: checks across the two parts, such as
    interactions, did not run). Rows of a group past ``max_items`` are kept by number only.
    """
    header, rows = table
    if not header:
        log.warning("%s is empty: no header row, no rows", path.name)
        return
    fields = _field_index(header, columns)
    missing = [f for f in ("rx_id", "drug") if f not in fields]
    if missing:
        raise InputError(
            f"required column(s) missing: {', '.join(missing)} (e.g. 处方号, 药品名称); columns found: "
            f"{', '.join(header)}; map others with --columns",
            file=str(path),
        )
    _warn_unmapped(path, header, columns, notes)
    rx_col, width = fields["rx_id"], len(header)
    current: str | None = None
    group: list[tuple[int, list[Any]]] = []
    # ids of the last _SEEN_IDS prescriptions only (id → first and last row of its first part):
    # a map of every id would grow with the file
    seen: dict[str, tuple[int, int]] = {}
    recent: deque[str] = deque()
    reappeared = 0
    pending: list[RawUnit] = []
    earlier: tuple[tuple[int, int], ...] = ()

    def close() -> RawUnit:
        if current not in seen:
            seen[current] = (group[0][0], group[-1][0])  # type: ignore[index]
            recent.append(current)  # type: ignore[arg-type]
            if len(recent) > _SEEN_IDS:
                seen.pop(recent.popleft(), None)
        return RawUnit("rows", path.name, (current, fields, group, earlier))

    for n, values in rows:
        if values and values[0] == _ROW_ERROR:
            problem, rx_id = values[1], ""
        else:
            if not any(str(v).strip() for v in values if v is not None):
                continue  # an empty line in the export
            rx_id = str(values[rx_col]).strip() if rx_col < len(values) else ""
            problem = (
                f"{INPUT_ERRORS['too_many_cells']}（more cells than the header）"
                if len(values) > width
                else None
                if rx_id
                else f"{INPUT_ERRORS['empty_rx_id']}（prescription id is empty）"
            )
        if problem:
            # reported after the prescription being read, so the output keeps file order
            record = _row_record(values, fields) if values[:1] != [_ROW_ERROR] else {}
            msg = (
                problem
                if values[:1] == [_ROW_ERROR]
                else str(InputError(problem, file=path.name, row=n, field=None if rx_id else "rx_id"))
            )
            # the row's doctor and department stay with it: statistics count the error under its doctor
            pending.append(
                _error_unit(
                    path,
                    rx_id or f"row-{n}",
                    n,
                    record.get("drug", ""),
                    msg,
                    record.get("prescriber"),
                    record.get("department"),
                )
            )
            continue
        if rx_id != current:
            if group:
                yield close()
            yield from pending
            pending = []
            earlier = (seen[rx_id],) if rx_id in seen else ()
            if earlier:
                reappeared += 1
                if reappeared <= 10:  # a sorted-by-drug export would otherwise log every row
                    log.warning(
                        "prescription id reappears after other prescriptions (row %d)%s",
                        n,
                        "; further ones not logged" if reappeared == 10 else "",
                    )
            current, group = rx_id, []
        # past the limit the case is an error row anyway: keep the row number, not the cells
        group.append((n, values if len(group) <= max_items else []))
    if group:
        yield close()
    yield from pending


def _warn_unmapped(path: Path, header: list[Any], columns: dict[str, str], notes: list[str] | None) -> None:
    """Every column the map does not know, listed once: to the log (stderr) and to the report's notes."""
    unmapped = unmapped_columns([str(h) for h in header], columns)
    if not unmapped:
        return
    text = (
        f"{path.name}: {INPUT_ERRORS['unmapped_column']}：{'、'.join(unmapped)}"
        "（如需使用请用 --columns 映射，见 README 的 HIS 列名表）"
    )
    log.warning("%s", text)
    if notes is not None and text not in notes:
        notes.append(text)


def _error_unit(
    path: Path,
    unit_id: str,
    line: int,
    drug: str,
    msg: str,
    prescriber: str | None = None,
    department: str | None = None,
) -> RawUnit:
    return RawUnit(
        "error",
        path.name,
        CaseInput(
            id=unit_id,
            case=None,
            rows=[RowRef(line=line, drug=drug, error=msg)],
            error=msg,
            prescriber=prescriber,
            department=department,
        ),
    )


def iter_units(
    path: str | Path,
    columns: dict[str, str] | None = None,
    fmt: str | None = None,
    max_items: int = MAX_ITEMS,
    notes: list[str] | None = None,
) -> Iterator[RawUnit]:
    """Every unit of work in a file, in file order, not yet validated (see :func:`build_unit`).

    Columns of a table that map to no field are logged once and, when ``notes`` is given, appended
    to it (the report lists them).

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
            yield from _iter_grouped(
                path, _flat_json_table(first, it), columns, max_items, notes
            )  # flat lines
            return
        yield RawUnit("nested", path.name, first)
        for pair in it:
            yield RawUnit("nested", path.name, pair)
        return
    try:
        table = _open_table(path, fmt)
    except _SheetRefused as exc:
        yield _error_unit(path, path.name, 1, "", str(exc))
        return
    yield from _iter_grouped(path, table, columns, max_items, notes)


def build_unit(unit: RawUnit, max_items: int = MAX_ITEMS) -> CaseInput:
    """Validate a unit into a case (or an error case naming file, row and field)."""
    if unit.kind == "error":
        return unit.payload
    if unit.kind == "nested":
        n, raw = unit.payload
        return _case_from_nested(n, raw, Path(unit.file), max_items)
    rx_id, fields, rows, *rest = unit.payload
    case = _build_case(
        rx_id, [(n, _row_record(values, fields)) for n, values in rows], Path(unit.file), max_items
    )
    earlier = rest[0] if rest else ()
    if earlier:
        where = "、".join(f"第{a}行" if a == b else f"第{a}–{b}行" for a, b in earlier)
        here = (rows[0][0], rows[-1][0])
        here_text = f"第{here[0]}行" if here[0] == here[1] else f"第{here[0]}–{here[1]}行"
        case.notes.append(
            f"处方号“{rx_id}”已在{where}出现，本段（{here_text}）作为另一张处方单独审核，"
            "两段之间的相互作用、重复用药等未合并核对"
        )
    return case


def iter_cases(
    path: str | Path,
    columns: dict[str, str] | None = None,
    fmt: str | None = None,
    max_items: int = MAX_ITEMS,
) -> Iterator[CaseInput]:
    """:func:`iter_units` built into cases in this process (the batch runner builds in its workers)."""
    return (build_unit(u, max_items) for u in iter_units(path, columns, fmt, max_items))
