"""Operators of the SES insights provider."""
