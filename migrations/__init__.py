"""Alembic migrations, shipped inside the wheel as `bmac_workflow.migrations`."""
