"""The program's version, in one place below every layer (the package root re-exports it;
the library records it in snapshots and audit records without importing the root)."""

__version__ = "0.1.0"
