"""Maintenance: the retention policy (forget) and garbage collection (prune)."""
