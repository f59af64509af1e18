"""Executors that carry out approved actions and undo them."""
