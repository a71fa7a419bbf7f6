"""Rules: sorting (filled in by its family's work)."""
