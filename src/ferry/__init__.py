"""Ferry: answer people's data-portability requests for many client companies."""

__version__ = "0.1.0"
