"""Benchmarks: seeding a large community and measuring it against a bare Flask app."""
