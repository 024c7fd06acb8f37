"""LSP and JSON-RPC layer: thin handlers over the Engine, one module per feature group."""
