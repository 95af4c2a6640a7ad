"""python -m s3vault."""

from s3vault.cli import main

main()
