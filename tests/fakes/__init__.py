"""Test doubles: a recording channel, a fake Twilio server, and friends."""
