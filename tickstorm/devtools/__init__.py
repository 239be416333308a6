"""Developer checks that anyone can run (``python -m tickstorm.devtools.imports``)."""
