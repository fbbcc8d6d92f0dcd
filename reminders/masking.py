"""Mask patient contact details before they reach a log line or a terminal."""

from __future__ import annotations


def mask_address(address: str) -> str:
    """'+15551234567' -> '+1•••••••567'; 'ana@example.com' -> 'a•••@example.com'."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}•••@{domain}"
    if len(address) <= 4:
        return "•" * len(address)
    return address[:2] + "•" * (len(address) - 5) + address[-3:]
