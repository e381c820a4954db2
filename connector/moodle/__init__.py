"""Moodle Web Services (REST): the HTTP client, its typed errors and the questions sync asks."""
