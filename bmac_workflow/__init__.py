"""bmac-workflow: a procedure workflow tracker for autologous BMAC knee injections."""

__version__ = "0.1.0"
