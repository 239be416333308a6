"""The feed process is killed (SIGKILL: no clean shutdown) and started again 1 s later. It resumes from its
journal on disk: ids it delivered are not delivered again, trade ids missed while it was down are
backfilled over REST, depth updates it missed are reported as one exact gap and its books resync. The
DLQ written before the kill survives."""

from harness.scenario import Scenario, at, feed_kill, feed_restart, venue_fault

SCENARIO = Scenario(
    name="feed killed and restarted",
    description="corrupt 2 frames, SIGKILL the feed, restart it 1 s later",
    speed=20.0,
    duration_s=6.0,
    expect_dlq=True,
    timeline=[
        at(0.5, venue_fault("corrupt", "btcusdt@aggTrade", count=2)),
        at(2.0, feed_kill()),
        at(3.0, feed_restart()),
    ],
)
