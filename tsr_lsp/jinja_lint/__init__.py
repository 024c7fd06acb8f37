"""jinja_lint"""
