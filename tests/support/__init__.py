"""Reusable test servers: a real Prometheus/Alertmanager stack and a fake exporter."""
