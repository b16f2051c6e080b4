"""Outputs for people: the HTML report, its plots and annotated videos."""
