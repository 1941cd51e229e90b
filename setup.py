"""Package layout: studio/ installs as ``studio``; the built-in plugins in plugins/ install as ``studio_plugins``
(a name of Studio's own, so no other distribution's top-level ``plugins`` can shadow them).
Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["studio", "studio.*"])
    + ["studio_plugins" + name.removeprefix("plugins") for name in find_packages(include=["plugins", "plugins.*"])],
    package_dir={"studio_plugins": "plugins"},
)
