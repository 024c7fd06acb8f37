"""tsr-lsp: a local-LLM language server with a trained router and cross-project memory."""

__version__ = "0.1.0"
