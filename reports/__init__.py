"""Report rendering (console, JSON, HTML) and committed SLA baselines."""
