"""The HTTP API: clinic and Twilio webhooks, operator views, metrics and health."""
