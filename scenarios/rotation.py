"""The venue's 24 h disconnect compressed to 3 s; the feed rotates make-before-break at 1.5 s."""

from harness.scenario import SLA, Scenario

SCENARIO = Scenario(
    name="24 h cut compressed, make-before-break",
    description="venue closes connections after 3 s; feed rotates after 1.5 s with 0.5 s overlap",
    speed=20.0,
    duration_s=5.0,
    venue={"max_connection_age_s": 3.0},
    feed={"rotate_after_s": 1.5, "rotation_overlap_s": 0.5},
    sla=SLA(latency_p99_ms=250.0),
)
