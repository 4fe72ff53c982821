"""minipod's benchmark suite (issue 5): `make bench` (beside podman and the kernel floor)."""
