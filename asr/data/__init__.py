"""Data: JSONL manifests, corpus importers, downloads, datasets and batch samplers."""
