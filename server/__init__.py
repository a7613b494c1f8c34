"""semcoder-lsp: the SemCoder language server (pygls 2)."""

__version__ = "0.1.0"
