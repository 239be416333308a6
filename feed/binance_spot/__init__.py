"""Binance spot venue support for the reference feed."""
