"""Restore: plan → fetch packs → write → finalise metadata."""
