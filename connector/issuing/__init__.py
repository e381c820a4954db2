"""Issuing: turning awards into signed credentials (formats, signing, status lists)."""
