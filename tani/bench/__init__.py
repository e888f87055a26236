"""Benchmarks (``tani bench ...``): each prints one JSON object; none passes or fails a test."""
