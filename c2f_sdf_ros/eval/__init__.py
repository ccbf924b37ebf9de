"""Evaluation: metrics and the c2f-sdf eval command."""
