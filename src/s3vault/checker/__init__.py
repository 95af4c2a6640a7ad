"""Verification: repository structure, read-back of pack data, and naming what is damaged."""
