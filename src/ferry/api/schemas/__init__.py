"""Request and response bodies (Create / Read)."""
