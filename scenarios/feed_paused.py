"""The feed process is frozen (SIGSTOP) for 1.5 s, as in a long GC pause or a descheduled VM, then continued:
the kernel buffers what the venue sent meanwhile; the feed catches up without loss or duplicates."""

from harness.scenario import Scenario, at, feed_continue, feed_pause

SCENARIO = Scenario(
    name="feed paused",
    description="feed process SIGSTOP for 1.5 s, then SIGCONT",
    speed=20.0,
    duration_s=5.0,
    timeline=[
        at(1.0, feed_pause()),
        at(2.5, feed_continue()),
    ],
)
