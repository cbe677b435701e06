"""Pure RADIUS policy: subscriber policy rows and request attributes in, Decisions out (no I/O)."""
