"""Analyses that accompany reproductions (closed forms checked by simulation)."""
