"""Synthetic speech corpora: voices (`voices`), augmentation (`augment`) and the corpus
writer (`corpus`, behind `asr synth` and tools/synth_corpus.py)."""
