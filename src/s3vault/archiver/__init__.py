"""The backup pipeline: one module per stage (scan → changes → chunking → trees → commit)."""
