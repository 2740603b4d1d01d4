"""asr: a classic, fast, hackable speech recognizer (log-mel, BiLSTM-CTC, beam search + LSTM LM)."""

__version__ = "0.1.0"

SAMPLE_RATE = 16000
