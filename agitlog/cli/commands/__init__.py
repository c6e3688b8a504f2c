"""The command functions, one module per group; agitlog.cli.app registers them."""
