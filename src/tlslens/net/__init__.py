"""EDGE: what talks to the network."""
