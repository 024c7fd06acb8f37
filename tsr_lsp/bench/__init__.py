"""Benchmarks behind `tsr-lsp bench` (docs/BENCHMARKS.md)."""
