"""Print and export in the GUI: new document from a print preset, fit to print, guides, soft proof, export.

- :mod:`.size_dialogs`: the print size editor, New from Print Preset and Fit to Print Preset;
- :mod:`.guides`: trim, safe area, wrap and bleed lines over the canvas;
- :mod:`.soft_proof`: the soft proof dialog and the proof kept up to date on the canvas;
- :mod:`.export_dialog`: File › Export Image…;
- :mod:`.widgets`: what the dialogs share (OK/Cancel buttons, the ICC profile chooser);
- :mod:`.actions`: :class:`~.actions.PrintActions`, the menu entries and the state they need
  (guides on or off, the soft proof, the running export).

The dialogs are plain QDialogs whose values are read with ``spec()`` / ``settings()``,
so tests can drive them directly.
"""
