"""Delivery channels behind one small interface."""

from reminders.channels.base import Channel, Outgoing, SendError

__all__ = ["Channel", "Outgoing", "SendError"]
