"""Inline completion, the pure part: what goes into a fill-in-the-middle prompt, when not to
ask the model, how to clean what it answers, and a cache with type-through reuse.

No pygls and no model here: the server feature (tsr_lsp/server/completion.py) fetches the
document, calls these functions and runs the model. docs/COMPLETION.md explains the choices.
"""
