"""Training: acoustic model (CTC) now; the LM trainer shares the machinery in this package."""
