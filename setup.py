"""Build configuration beyond pyproject.toml: the optional C extension vfswasi._hostcall.

Everything else (metadata, packages, dependencies) lives in pyproject.toml. The extension
speeds up every host call (vfswasi/fastcall.py); it is `optional`, so where no C compiler
exists the build only warns and the package installs without it, running the same host
functions through ctypes with identical behaviour.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "vfswasi._hostcall",
            sources=["vfswasi/_hostcall.c"],
            optional=True,
        )
    ],
)
