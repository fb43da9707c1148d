"""The learned reviewer (the model half of the audit): ranks prescriptions and explains why.

Two learned parts, both from a clinic's own history: the clinic profile
(:mod:`toolkit.review.profile`) and a logistic model over :data:`FEATURES`
(:mod:`toolkit.review.features`), run with onnxruntime (:mod:`toolkit.review.model`),
trained with torch (:mod:`toolkit.review.train`); the rules-only queue order it is compared
with is :mod:`toolkit.review.queue` (both measured by :mod:`toolkit.evaluation.reviewer`). The audit
engine calls a loaded reviewer through :class:`toolkit.audit.CaseReviewer`::

    AuditOptions(reviewer=load_reviewer(model_dir))

``toolkit.review`` depends on ``toolkit.audit`` and ``toolkit.onnx``; neither imports it.
Importing it never imports torch or onnxruntime.
"""

from toolkit.onnx.models import auc
from toolkit.review.features import FEATURE_LABELS, FEATURES, CaseFeatures, ItemOutlier, case_features
from toolkit.review.model import (
    CONFIG_NAME,
    Review,
    Reviewer,
    ReviewerConfig,
    clear_loaded,
    default_model_dir,
    load_reviewer,
    review_case,
)
from toolkit.review.profile import PROFILE_NAME, ClinicProfile, Usual, diagnosis_keys, item_class, item_key
from toolkit.review.queue import rules_only_score
from toolkit.review.train import DECISIONS, Decision, TrainReport, read_decisions, train_reviewer

__all__ = [
    "CONFIG_NAME",
    "DECISIONS",
    "FEATURES",
    "FEATURE_LABELS",
    "PROFILE_NAME",
    "CaseFeatures",
    "ClinicProfile",
    "Decision",
    "ItemOutlier",
    "Review",
    "Reviewer",
    "ReviewerConfig",
    "TrainReport",
    "Usual",
    "auc",
    "case_features",
    "clear_loaded",
    "default_model_dir",
    "diagnosis_keys",
    "item_class",
    "item_key",
    "load_reviewer",
    "read_decisions",
    "review_case",
    "rules_only_score",
    "train_reviewer",
]
