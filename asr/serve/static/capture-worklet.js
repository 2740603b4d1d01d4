// Runs on the audio thread: the microphone's channels averaged to mono, as little-endian int16,
// posted to the page in frames of processorOptions.frameSamples (about 100 ms) at the context's
// rate; the server resamples to 16 kHz. A "flush" message posts what is left, then "flushed".

class Pcm16Capture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.frame = new Int16Array(options.processorOptions.frameSamples);
    this.filled = 0;
    this.open = true;
    this.port.onmessage = () => {
      this.post();
      this.open = false;
      this.port.postMessage("flushed");
    };
  }

  process(inputs) {
    if (!this.open) return false;
    const channels = inputs[0];
    if (channels.length === 0) return true;  // no input connected (yet)
    for (let i = 0; i < channels[0].length; i++) {
      let sum = 0;
      for (const channel of channels) sum += channel[i];
      const sample = Math.round((sum / channels.length) * 32768);
      this.frame[this.filled++] = Math.max(-32768, Math.min(32767, sample));
      if (this.filled === this.frame.length) this.post();
    }
    return true;
  }

  post() {
    if (this.filled === 0) return;
    const frame = this.frame.slice(0, this.filled);  // Int16Array is little-endian on every platform browsers run on
    this.port.postMessage(frame.buffer, [frame.buffer]);
    this.filled = 0;
  }
}

registerProcessor("pcm16-capture", Pcm16Capture);
