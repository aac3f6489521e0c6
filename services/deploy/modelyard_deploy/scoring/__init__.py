"""Scoring runs: the metrics computed from a version's outputs on a dataset (scikit-learn, here)."""
