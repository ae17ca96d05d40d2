"""Private helpers of the built-in generators (networks, pyramids, schedules)."""
