"""Qt-free core of Studio: documents, images, jobs and plugins.

Nothing in this package imports Qt or the ``plugins`` package; import-linter
checks this in CI.
"""
