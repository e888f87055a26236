"""Grafana dashboards of Tani Hub, as typed code."""
