"""benchlib: a reproducible benchmark book for five computer-vision papers."""

__version__ = "0.1.0"


class BenchlibError(Exception):
    """A user-facing error: names the file or input and what is wrong with it."""
