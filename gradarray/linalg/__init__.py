"""numpy.linalg mirror (placeholder until its issue lands)."""
