"""The Trainable System Router: request -> category prediction -> policy -> Decision."""
