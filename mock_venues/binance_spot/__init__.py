"""The mock Binance spot venue: WebSocket streams, REST and a control API over a replay timeline."""
