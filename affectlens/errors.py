"""Errors that carry a message meant for the person running affectlens."""


class AffectlensError(Exception):
    """Base class: the message is shown as it is, on one line."""


class InputError(AffectlensError):
    """An input file or stream that cannot be analysed (missing, corrupt, not media)."""


class ModelError(AffectlensError):
    """A model's weights are missing or cannot be loaded on the requested device."""
