"""One audio file to a `Transcript`, as `asr transcribe` makes it: the file decoded whole, or,
when it is longer than `segment_over` seconds, read block by block through the streaming
recognizer and cut into segments at pauses (bounded memory, a progress bar over its audio
seconds). `asr transcribe` and `asr serve`'s POST /transcribe both go through here, so a file
gives the same JSON either way.
"""

from __future__ import annotations

from asr import SAMPLE_RATE
from asr.errors import AudioError
from asr.output import Transcript, transcript_of_result
from asr.transcribe import Recognizer, utterances_from_files


def streaming_recognizer(recognizer: Recognizer, streaming: dict, word_timestamps: bool = False):
    """A `StreamingRecognizer` over a loaded model; streaming: chunk_ms, right_context_ms, endpoint_ms."""
    from asr.decode.stream import StreamingRecognizer

    return StreamingRecognizer(recognizer, chunk_ms=streaming["chunk_ms"],
                               right_context_ms=streaming["right_context_ms"],
                               endpoint_ms=streaming["endpoint_ms"], word_timestamps=word_timestamps)


def transcribe_long(recognizer: Recognizer, path: str, name: str, duration: float, streaming: dict,
                    word_timestamps: bool) -> Transcript:
    """A long file read block by block and cut into segments at pauses, with a progress report
    over its audio seconds; `AudioError` when it cannot be read."""
    from asr.audio_stream import read_blocks
    from asr.progress_bar import progress_bar

    stream = streaming_recognizer(recognizer, streaming, word_timestamps)
    segments = []
    # minutes of work: a bar over audio seconds on a terminal, a line now and then in a log
    with progress_bar(desc=name, total=round(duration, 1), unit="s", noun="s of audio", leave=False,
                      bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio "
                                 "[{elapsed}<{remaining}]") as progress:
        for block in read_blocks(path, block_seconds=10.0):
            segments += stream.accept_waveform(block)
            progress.update(round(len(block) / SAMPLE_RATE, 3))
        segments += stream.final()
    return Transcript(name, " ".join(s.text for s in segments), segments, duration)


def transcribe_file(recognizer: Recognizer, path: str, name: str, segment_over: float, streaming: dict,
                    word_timestamps: bool = True, batch_frames: int = 60000) -> Transcript:
    """One file as `asr transcribe` transcribes it (see the module docstring); `name` is shown
    as its file. `AudioError` when it cannot be read."""
    utterances, failures = utterances_from_files([path])
    if failures:
        raise AudioError(name, failures[0].error.replace(path, name).removeprefix(f"{name}: "))
    utt = utterances[0]
    if segment_over and utt.duration > segment_over:
        return transcribe_long(recognizer, path, name, utt.duration, streaming, word_timestamps)
    result = next(recognizer.decode_utterances([utt], batch_frames, 0, progress=False,
                                               word_timestamps=word_timestamps))
    if result.text is None:
        raise AudioError(name, result.error.replace(path, name).removeprefix(f"{name}: "))
    return transcript_of_result(result, name, utt.duration)
