"""Pluggable methodology modules: each turns a verified behaviour record into a reduction
in grams CO2e (baseline minus project emissions). Built-ins and third-party modules register
through the `carbon_points.methodologies` entry-point group."""
