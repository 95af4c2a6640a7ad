"""The library API: one module per user operation; Options record in, Result record out."""
