"""Metrics over HTTP: the Prometheus exposition (``GET /metrics``) and the request instruments
that feed it; the ``stowage`` admin operation behind ``stowage top`` is in ``api/usage``."""
