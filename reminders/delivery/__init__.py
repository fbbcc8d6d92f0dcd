"""Delivery of a claimed batch: re-check, throttle, render, send through a channel, record."""
