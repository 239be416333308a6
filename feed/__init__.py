"""The reference feed: multi-venue WebSocket ingest that tickstorm tests."""
