"""`python -m bmac_workflow` is `bmac`."""

from bmac_workflow.cli import main

main()
