"""Network architectures (randomly initialised builders) and wrappers for the models in the catalog."""
