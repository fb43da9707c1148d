"""Evaluation on labelled samples: the scoring behind ``clinic eval …`` and what the ``eval/`` scripts share.

Scoring, one module per stage: :mod:`~toolkit.evaluation.audit` (findings per category),
:mod:`~toolkit.evaluation.reviewer` (rules vs rules + model, queue ranking),
:mod:`~toolkit.evaluation.extract` (span, prescription-item and record scores; external NER corpora),
:mod:`~toolkit.evaluation.care` (control status, follow-up interval, referral),
:mod:`~toolkit.evaluation.asr` (CER and drug-name accuracy before/after correction) and
:mod:`~toolkit.evaluation.visit` (whole visits on visit-case files: hint merge, findings found, false alarms).
Where the labelled samples are: :mod:`~toolkit.evaluation.data` (:func:`~toolkit.evaluation.data.eval_data`).
Shared by the scripts: :mod:`~toolkit.evaluation.ner_data` (NER training corpora),
:mod:`~toolkit.evaluation.ner_charcnn` (the torch tagger; ``[train]`` only, never imported by the package),
:mod:`~toolkit.evaluation.bench_data` (generated drug lines for the benchmarks) and
:mod:`~toolkit.evaluation.bench` (ports, readiness, server CPU time and the load client of the HTTP
benchmarks).
Shared by ``eval/reliability.py`` and the tests: :mod:`~toolkit.evaluation.hostile` (hostile and broken
inputs, issue 16) and :mod:`~toolkit.evaluation.reliability` (the kill/resume and service checks, issue 7).
Importing this package imports none of its modules.
"""
