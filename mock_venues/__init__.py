"""Protocol-faithful mock venue servers and the replay engine that drives them."""
