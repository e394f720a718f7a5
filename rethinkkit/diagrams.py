"""Diagrams of the paper's framing figures (Figures 1 and 2), drawn from the kit's own runs."""
