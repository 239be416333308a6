tickstorm bundles data taken from QuantConnect LEAN (https://github.com/QuantConnect/Lean),
Copyright QuantConnect Corporation, licensed under the Apache License, Version 2.0 (LICENSE.lean).
The data originates from AlgoSeek (https://www.algoseek.com/), as stated in LEAN's Data/equity/readme.md
and Data/option/readme.md.

Files derived from it: alpaca_stocks_news_20131007.norm.jsonl.gz (the stock rows) and
alpaca_options_spy_20230803.norm.jsonl.gz.

Changes made by tickstorm (Apache-2.0 section 4(b)): rows cut to the window 09:29-09:40 ET; the CSV rows
converted to normalized JSON Lines records; prices converted from deci-cents to decimals; times converted
from milliseconds after midnight ET to Unix nanoseconds (UTC); option contracts named by their OCC
symbols. The values are otherwise unchanged. mock_venues/recordings/alpaca_slices.py performs these steps.
