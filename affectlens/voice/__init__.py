"""Tone of voice (issue 20): vocal expression in recorded sessions, for consented research only.

audio (PyAV decoding) -> vad (WebRTC speech windows) -> features (numpy) -> model (ONNX,
calibrated) -> engine (voice.csv rows, summary) -> report (the HTML timeline). No audio is
kept or written, no speech transcribed, no speaker told from another.
"""
