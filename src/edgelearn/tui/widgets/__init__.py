"""Widgets of the TUI, one module per screen region."""
