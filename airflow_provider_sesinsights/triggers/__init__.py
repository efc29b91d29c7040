"""Triggers of the SES insights provider."""
