"""Sensors of the SES insights provider."""
