"""PySide6 user interface of Studio."""
