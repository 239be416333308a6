"""Load testing of the feed's downstream side with Locust (docs/load.md).

:mod:`.shape` (plan and knee logic, pure), :mod:`.promtext` (Prometheus histograms and percentiles),
:mod:`.probe` (reads the feed's metrics and stats), :mod:`.client` (gevent-friendly subscriber client and
history files), :mod:`.history` (the join with the feed's history), :mod:`.locustfile` (Locust users and the
knee shape), :mod:`.driver` + :mod:`.report` + :mod:`.cli` (``tickstorm load``).
"""
