"""Programs the concurrency tests run in child processes (real processes, real locks)."""
