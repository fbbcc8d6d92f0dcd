"""Intake: clinic events and CSV rows, validated into plain inputs, then applied."""
