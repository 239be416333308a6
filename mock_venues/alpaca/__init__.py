"""The mock Alpaca market-data venue: stock, crypto, option and news streams, historical REST for recovery.

See docs/venue-alpaca.md. ``codec`` (wire formats, requests) and ``protocol`` (the session state machine)
are pure; ``tape`` turns the recordings into Alpaca messages, ``model`` keeps what was published (REST),
``rest`` serves it, ``server`` puts them on the shared venue plumbing.
"""
