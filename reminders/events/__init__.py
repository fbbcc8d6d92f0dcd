"""Signed events to a clinic's own system: emitted with the change, posted by beat, retried."""
