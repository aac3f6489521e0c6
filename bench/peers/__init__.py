"""Modelyard side by side with MLflow 3: the same operations through each system's own SDK."""
