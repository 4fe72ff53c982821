"""minipod's benchmark suite (issue 5): `make bench`, `make bench-peers`."""
