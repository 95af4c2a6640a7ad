"""Everything between "a blob of plaintext" and "an object in a backend"."""
