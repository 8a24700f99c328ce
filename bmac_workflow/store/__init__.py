"""Persistence: tables, engine, repository and unit of work. Never imports click."""
