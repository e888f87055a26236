"""Alerts: rule evaluation over stored readings, the alert lifecycle, notification delivery."""
