"""Hooks of the SES insights provider."""
