"""Merchants and their staff."""
