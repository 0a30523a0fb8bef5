"""Webhooks: signed calls from other services, served outside the API prefix."""
