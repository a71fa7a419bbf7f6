"""numpy.fft mirror (placeholder until its issue lands)."""
