"""AI code actions, the pure part: which actions a selection offers, what code they act on,
how the model's answer becomes code, the edits that apply it, the markdown an explanation
opens in, and whether an applied edit was later undone or changed.

No pygls and no model here: the server feature (tsr_lsp/server/actions.py) fetches the
document, calls these functions, runs the model and sends the results. Edits always span
whole lines, so they need no column arithmetic (and no position encoding).
Protocol: docs/PROTOCOL.md, "AI code actions".
"""
