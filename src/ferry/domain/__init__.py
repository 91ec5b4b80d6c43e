"""Pure domain: no I/O, no imports of other Ferry layers."""
