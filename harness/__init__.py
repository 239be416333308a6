"""Fault injection, orchestration, history recording, checkers and SLA evaluation."""
