"""Use cases: plain values in, plain data out, one unit of work each."""
