"""followup: chase dated commitments politely, on time, in the right language."""

__version__ = "0.1.0"
