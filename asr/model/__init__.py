"""Models: the BiLSTM-CTC acoustic model (and, later, the LSTM language model)."""
