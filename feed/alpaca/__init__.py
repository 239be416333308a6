"""The Alpaca market data adapter (stocks, crypto, options, news): docs/feed-alpaca.md."""
