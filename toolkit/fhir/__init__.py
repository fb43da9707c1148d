"""FHIR R4B in and out for the toolkit, with one code table both ways (:mod:`toolkit.fhir.codes`).

* :mod:`toolkit.fhir.read` — a Bundle (or CDS Hooks prefetch) → an :class:`~toolkit.records.AuditCase`
* :mod:`toolkit.fhir.write` — DetectedIssue, OperationOutcome, CapabilityStatement, the record as a
  ``document`` Bundle
* :mod:`toolkit.fhir.hooks` — CDS Hooks 2.0 request semantics (prefetch, draft orders)
* :mod:`toolkit.fhir.cds_auth` — CDS Hooks JWT client authentication against a configured JWKS
* :mod:`toolkit.fhir.validate` — explicit checks of the FHIR invariants the output relies on

Everything here needs the ``[service]`` extra (``fhir.resources``, ``ucumvert``, ``joserfc``), imported lazily.
"""
