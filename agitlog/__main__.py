from agitlog.cli import entry

entry()
