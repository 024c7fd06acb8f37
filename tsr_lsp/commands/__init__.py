"""Implementations of the CLI subcommands (tsr_lsp.cli maps names to these)."""
