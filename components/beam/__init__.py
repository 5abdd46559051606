"""Beam plumbing shared by components."""
