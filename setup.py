"""Package layout: studio/ installs as ``studio``; the built-in plugins in plugins/ install as ``studio_plugins``
(a name of Studio's own, so no other distribution's top-level ``plugins`` can shadow them). One optional C library,
the fused ReLU and max-pool of studio/core/nets/relu_max_pool.py: without a C compiler Studio installs without it
and runs PyTorch's own operations instead. Everything else is in pyproject.toml."""

from setuptools import Extension, find_packages, setup

setup(
    packages=find_packages(include=["studio", "studio.*"])
    + ["studio_plugins" + name.removeprefix("plugins") for name in find_packages(include=["plugins", "plugins.*"])],
    package_dir={"studio_plugins": "plugins"},
    ext_modules=[
        Extension(
            "studio.core.nets._relu_max_pool",
            sources=["studio/core/nets/_relu_max_pool.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ],
)
