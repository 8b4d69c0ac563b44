"""Stand-ins for the outside world that tests start themselves (they speak the real wire protocols)."""
