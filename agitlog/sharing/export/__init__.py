"""Sessions out of agitlog: a self-contained HTML replay (``html``) and OpenTelemetry traces (``otlp``)."""
