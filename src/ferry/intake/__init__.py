"""Intake channels that need more than a form: OpenDSR (controllers handing requests over)."""
