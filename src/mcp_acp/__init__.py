"""mcp-acp: a zero-trust access-control proxy for the Model Context Protocol."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mcp-acp")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"
