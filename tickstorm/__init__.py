"""The core every tickstorm package builds on: the command-line entry point (commands plug in through the
``tickstorm.commands`` entry points), running a component as a process (ready line, clean stop), starting
child processes, the machine facts reports carry, and the normalized recording format.

Nothing here imports another tickstorm package: feed, mock_venues and faultproxy build on this; the harness
builds on them; reports and observability on the harness (``python -m tickstorm.devtools.imports`` checks).
"""
