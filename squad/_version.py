"""The kit's version, read by the package metadata and ``squad --version``."""

__version__ = "0.1.0"
