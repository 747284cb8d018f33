"""SU-Kvinnofrid national statistics pipeline."""

__version__ = "0.1.0"
