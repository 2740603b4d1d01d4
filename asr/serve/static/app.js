// The page of `asr serve`: the microphone streamed to WebSocket /stream, a file posted to
// /transcribe (the protocol is in asr/serve/__init__.py).

const FRAME_SECONDS = 0.1;  // audio per WebSocket message
const CLOSE_REASONS = {
  1001: "the server is shutting down", 1003: "the server could not read the audio",
  1006: "the connection was lost", 1008: "over a server limit", 1009: "a message too large",
  1011: "a server error", 1013: "the server is busy, try again later",
};

const $ = (id) => document.getElementById(id);
const micButton = $("mic-button"), micStatus = $("mic-status"), partialLine = $("partial"), finalsList = $("finals");

function setStatus(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle("error", isError);
}

function formatTime(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${(seconds - 60 * minutes).toFixed(2).padStart(5, "0")}`;
}

function segmentItem({ start, end, text }) {
  const item = document.createElement("li");
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = `${formatTime(start)}–${formatTime(end)}`;
  item.append(time, " ", text);
  return item;
}

// ------------------------------------------------------------------ microphone
class MicSession {
  // Audio flows microphone -> worklet (mono int16 frames) -> socket. Frames captured before the
  // socket is open wait in `pending`, so nothing said while it connects is lost.
  constructor() {
    this.context = new AudioContext();  // in the click handler: browsers let a user gesture start audio
    this.pending = [];
    this.stopping = false;
    this.error = null;
    this.seconds = 0;
  }

  async start() {
    setStatus(micStatus, "Asking for the microphone…");
    const [media] = await Promise.all([
      navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } }),
      this.context.audioWorklet.addModule("/static/capture-worklet.js"),
    ]);
    this.media = media;
    if (this.stopping) {  // Stop pressed while the browser asked for the microphone
      this.releaseAudio();
      setStatus(micStatus, "Not recording.");
      this.end();
      return;
    }
    const rate = this.context.sampleRate;
    this.capture = new AudioWorkletNode(this.context, "pcm16-capture",
      { processorOptions: { frameSamples: Math.round(rate * FRAME_SECONDS) } });
    this.capture.port.onmessage = (event) => this.onFrame(event.data);
    // the worklet writes no output: connecting it to the destination keeps it running, silently
    this.context.createMediaStreamSource(media).connect(this.capture).connect(this.context.destination);
    await this.context.resume();

    setStatus(micStatus, "Connecting…");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.socket = new WebSocket(`${scheme}://${location.host}/stream`);
    this.socket.onopen = () => {
      this.socket.send(JSON.stringify({ config: { sample_rate: rate, format: "pcm16" } }));
      for (const frame of this.pending.splice(0)) this.socket.send(frame);
      if (!this.stopping) setStatus(micStatus, `Listening (${rate / 1000} kHz).`);
    };
    this.socket.onmessage = (event) => this.onMessage(JSON.parse(event.data));
    this.socket.onclose = (event) => this.onClose(event);
  }

  onFrame(data) {
    if (data === "flushed") {
      this.releaseAudio();
      this.send(JSON.stringify({ eof: true }));
    } else {
      this.seconds += data.byteLength / 2 / this.context.sampleRate;
      this.send(data);
    }
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(message);
    else this.pending.push(message);
  }

  onMessage(message) {
    if ("partial" in message) {
      partialLine.textContent = message.partial;
    } else if ("final" in message) {
      partialLine.textContent = "";
      if (message.final) finalsList.append(segmentItem({ ...message, text: message.final }));
    } else if ("error" in message) {
      this.error = message.error;
      setStatus(micStatus, `Server: ${message.error}`, true);
    }
  }

  // Stop: the last frame, then eof; the server answers with the segments still open and closes.
  stop() {
    this.stopping = true;
    micButton.disabled = true;
    setStatus(micStatus, "Finishing…");
    if (this.capture) this.capture.port.postMessage("flush");
    else this.releaseAudio();
  }

  onClose(event) {
    this.releaseAudio();
    const why = CLOSE_REASONS[event.code] ?? `code ${event.code}`;
    if (event.code === 1000 && this.stopping) {
      setStatus(micStatus, `Stopped after ${this.seconds.toFixed(1)} s of audio.`);
    } else if (this.error) {
      setStatus(micStatus, `Server: ${this.error} (closed: ${why}).`, true);
    } else {
      setStatus(micStatus, `Connection closed: ${event.reason || why}.`, true);
    }
    this.end();
  }

  // Leave the page as it was before Start (the text stays), whatever went wrong.
  fail(error) {
    const message = error.name === "NotAllowedError" ? "the microphone was not allowed" : error.message;
    setStatus(micStatus, `Microphone: ${message}.`, true);
    this.releaseAudio();
    this.socket?.close();
    this.end();
  }

  releaseAudio() {
    this.media?.getTracks().forEach((track) => track.stop());
    if (this.context.state !== "closed") this.context.close();
  }

  end() {
    if (session === this) session = null;
    micButton.textContent = "Start microphone";
    micButton.classList.remove("recording");
    micButton.disabled = false;
  }
}

let session = null;

micButton.addEventListener("click", () => {
  if (session) {
    session.stop();
    return;
  }
  if (!navigator.mediaDevices?.getUserMedia || !window.AudioWorkletNode) {
    setStatus(micStatus, "This browser offers the microphone only to pages on https or localhost.", true);
    return;
  }
  partialLine.textContent = "";
  finalsList.replaceChildren();
  session = new MicSession();
  micButton.textContent = "Stop";
  micButton.classList.add("recording");
  const started = session;
  started.start().catch((error) => started.fail(error));
});

// ------------------------------------------------------------------ file
const fileForm = $("file-form"), fileStatus = $("file-status"), fileText = $("file-text"), fileSegments = $("file-segments");

fileForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("file-input").files[0];
  if (!file) return;
  const button = $("file-button");
  button.disabled = true;
  fileText.textContent = "";
  fileSegments.replaceChildren();
  setStatus(fileStatus, `Transcribing ${file.name}…`);
  try {
    const response = await fetch("/transcribe", { method: "POST", body: new FormData(fileForm) });
    const result = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
    if (!response.ok) throw new Error(result.error ?? `${response.status} ${response.statusText}`);
    fileText.textContent = result.text;
    fileSegments.append(...result.segments.map(segmentItem));
    setStatus(fileStatus, `${result.file}: ${result.duration.toFixed(1)} s of audio.`);
  } catch (error) {
    setStatus(fileStatus, `${file.name}: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
});
