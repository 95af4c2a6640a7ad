"""The repository format, as pure records ⇄ bytes. No I/O, no crypto. Mirrors docs/design.md.

Compatibility rule (design.md §14): a reader accepts every FORMAT_VERSION up to its own and refuses
newer ones with FormatVersionError; new optional fields may be added within a version and are
ignored by older readers; anything that changes how existing bytes are read needs a new version.
"""

FORMAT_VERSION = 2  # the newest this build reads (design.md §14)
WRITTEN_VERSION = 1  # what init writes: version 2 is switched on per repository (put-only keys)
PUT_ONLY_FORMAT = 2  # the format version put-only keys need (design.md §6a)
