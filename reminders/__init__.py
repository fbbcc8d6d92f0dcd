"""Aftercare reminders for skin clinics."""

__version__ = "0.1.0"
