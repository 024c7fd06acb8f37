"""Prompt templates: find them (project, user, shipped), parse their front matter, render
them in a sandbox, and turn a router decision into chat messages."""
