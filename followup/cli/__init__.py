"""The ``followup`` command line: one module per command group (entry point :func:`followup.cli.main.main`)."""
