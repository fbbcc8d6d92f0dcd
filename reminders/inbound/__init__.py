"""Inbound texts: classify a patient's reply, act on it, alert the clinic to warning signs."""
