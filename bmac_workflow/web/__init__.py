"""`bmac serve`: the read-only web board and JSON API (the optional `web` extra)."""
