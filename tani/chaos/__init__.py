"""Chaos runs: fault injection and fuzzing that check the hub holds together under abuse."""
