"""Evaluation: dataset readers, metrics, calibration, per-group audit and model cards.

Group labels (UTKFace's gender and race fields) are read here and only here: they never reach
a model, the pipeline or any runtime output.
"""
