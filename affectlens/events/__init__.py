"""Event rules: per-track state machines that turn analysed frames into things staff see."""
