"""OutpatientRecord → a FHIR R4B ``document`` Bundle, written by :mod:`toolkit.fhir.write` (the same code
tables the service reads, so an exported record can be audited through ``POST /v1/fhir/audit``).

The Bundle: Composition (门诊病历, sections 主诉/现病史/既往史/过敏史/体格检查/辅助检查/诊断/处理 with
their text; an empty section carries ``emptyReason``), Patient, Encounter (AMB), Condition per
diagnosis (ICD-10), AllergyIntolerance per allergen (clinicalStatus active, verificationStatus
unconfirmed: R4 ait-1), Observation for blood pressure (LOINC 85354-9) and the other vitals and labs,
MedicationRequest per prescription item (status draft / intent proposal: a drafted record is not a
signed order). Every fullUrl is a ``urn:uuid:`` and every reference points to an entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from toolkit.extract.records import OutpatientRecord


def record_to_fhir_bundle(
    record: OutpatientRecord, patient_id: str = "patient", encounter_id: str = "encounter"
) -> dict[str, Any]:
    """A validated FHIR R4B ``document`` Bundle as a JSON-ready dict."""
    from toolkit.fhir.write import record_to_document

    return record_to_document(record, patient_id=patient_id, encounter_id=encounter_id)
