"""Consent: STOP/START texts, email unsubscribe links, withdrawals, the consent gate."""
