"""Plugins that ship with Studio; each registers through the studio.plugins entry point."""
