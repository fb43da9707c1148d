"""Evaluation on labelled samples: scoring functions behind ``clinic eval …``."""
