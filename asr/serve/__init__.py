"""`asr serve`: streaming recognition over WebSocket, whole files over HTTP, one loaded model.

Endpoints (see README "Serving" for examples):

    GET  /            a page that transcribes the microphone live, or a file (static/index.html)
    GET  /health      {"status": "ok", "sessions": n, "max_sessions": m, "model": name, "pid": worker's}
    POST /transcribe  an audio file (the body, or the first file of a multipart form) -> the JSON of
                      `asr transcribe --format json` (400 {"error"} for audio that cannot be read)
    WS   /stream      streaming recognition, in the message shapes of Vosk's server where they fit:

      client: {"config": {"sample_rate": 16000, "format": "pcm16", ...}}   (optional, first; see
              protocol.StreamConfig for every key and its range)
      client: binary frames of mono PCM: little-endian int16 ("pcm16") or float32 ("float32")
      server: {"partial": "text so far"}                         when the open segment's text changes
      server: {"final": "text", "start": s, "end": s, "words": [{"word", "start", "end",
               "confidence"}], "last": false}                    at each pause (endpoint)
      client: {"eof": true}                                      (Vosk's {"eof": 1} too)
      server: the segments still open, then {"final": ..., "last": true} (text "" when nothing
              was left), and a normal close (1000)
      server on a bad config or frame, a stream over the limits, or shutdown: {"error": "..."} and
              a close with a code that says why (1003 bad data, 1008 limits, 1009 message too big,
              1013 too many sessions: try again later, 1001 shutting down)

Decoding runs on one worker thread, off the event loop: every pass takes all streams that have
audio waiting, computes their features, runs the chunks ready in all of them through the acoustic
model in one batch (`asr.decode.stream.run_chunks`) and decodes each, then the loop sends the
messages. Files posted to /transcribe are decoded on a second thread, so a long file does not
stall the streams. That is one core's work; `asr serve --workers N` runs N such processes on one
port (asr.serve.workers).
"""
