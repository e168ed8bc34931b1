"""Aggregating a grid's results into a table, figures and a Markdown report."""
