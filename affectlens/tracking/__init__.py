"""Stable face identities within one video (track ids, never identities) and smoothing."""
