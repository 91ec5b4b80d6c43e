"""The ``ferry`` command line (Typer); every command calls services only."""
