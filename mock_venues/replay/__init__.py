"""The replay engine: recorded venue messages turned into one timeline with intended send times."""
