"""Deliberately wrong student implementations: every check must catch each of them."""
