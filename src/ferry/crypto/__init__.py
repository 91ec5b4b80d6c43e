"""Keys, hashes and signed tokens."""
