"""Clinic and Twilio webhook tests."""
