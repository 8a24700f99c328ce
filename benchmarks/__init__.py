"""Benchmarks of bmac-workflow against raw floors measured in the same run (`benchmarks/run.py`)."""
