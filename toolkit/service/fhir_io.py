"""Compatibility shim: the FHIR reader and writers live in :mod:`toolkit.fhir` (one code table both ways,
shared with the record export). Import from there in new code."""

from __future__ import annotations

from toolkit.fhir.codes import (  # noqa: F401
    CATEGORY_DISPLAY,
    CODESYSTEM_CATEGORY,
    CODESYSTEM_RULE,
    LOINC,
    SNOMED_ROUTES,
)
from toolkit.fhir.read import (  # noqa: F401
    DETECTED_ISSUE_SEVERITIES,
    SKIPPED_CONDITION_STATUS,
    SKIPPED_MR_STATUS,
    SKIPPED_VERIFICATION,
    USED_TYPES,
    VALUE_SETS,
    FhirCase,
    age_on,
    bundle_to_case,
    medication_item,
    resources_to_case,
    validate_resource,
)
from toolkit.fhir.write import (  # noqa: F401
    SEVERITY_TO_FHIR,
    category_codesystem,
    finding_to_issue,
    report_to_bundle,
)
