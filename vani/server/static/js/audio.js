// Microphone capture and bot playback for vani's web client (docs/browser.md).
//
// One AudioContext at the device's own rate runs two worklets (worklets.js): capture (downmix,
// resample to the negotiated rate, 20 ms s16le frames) and playback (a jitter buffer that starts
// on the first chunk and flushes at once). Times reported here are on the page's clock
// (performance.now(), milliseconds).

export class MicrophoneError extends Error {
  constructor(message, reason) {
    super(message);
    this.name = "MicrophoneError";
    this.reason = reason;
  }
}

function explainMicrophoneError(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return new MicrophoneError(
      "Microphone access was blocked. Allow the microphone for this page in the browser's " +
        "site settings, then connect again.",
      "blocked",
    );
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return new MicrophoneError("No microphone was found. Plug one in and connect again.", "missing");
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return new MicrophoneError(
      "The microphone is busy or failed to start. Close other apps using it and try again.",
      "busy",
    );
  }
  return new MicrophoneError(`The microphone could not start (${error}).`, "other");
}

export class AudioEngine {
  /**
   * @param {object} options
   * @param {number} options.inputSampleRate rate of the frames sent to the server (Hz)
   * @param {(frame: {pcm: Int16Array, rms: number, at: number}) => void} options.onFrame
   * @param {(event: object) => void} options.onPlayback started/drained/flushed/level events
   */
  constructor({ inputSampleRate, onFrame, onPlayback }) {
    this.inputSampleRate = inputSampleRate;
    this.onFrame = onFrame;
    this.onPlayback = onPlayback;
    this.context = null;
    this.stream = null;
    this.capture = null;
    this.playback = null;
    this.source = null;
  }

  get running() {
    return this.context !== null;
  }

  async start() {
    if (this.context) return;
    if (!window.isSecureContext || !navigator.mediaDevices) {
      throw new MicrophoneError(
        "The microphone needs a secure page. Open this page over https, or at " +
          "http://127.0.0.1 or http://localhost on the machine running the server.",
        "insecure",
      );
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: {
          echoCancellation: true,
          noiseSuppression: true,
          autoGainControl: true,
          channelCount: { ideal: 1 },
        },
        video: false,
      });
    } catch (error) {
      throw explainMicrophoneError(error);
    }
    const context = new AudioContext({ latencyHint: "interactive" });
    try {
      await context.audioWorklet.addModule(new URL("./worklets.js", import.meta.url));
      const capture = new AudioWorkletNode(context, "vani-capture", {
        numberOfInputs: 1,
        numberOfOutputs: 0,
        processorOptions: { targetRate: this.inputSampleRate, frameMs: 20 },
      });
      capture.port.onmessage = (event) => {
        const msg = event.data;
        if (msg.type === "frame") {
          this.onFrame({ pcm: new Int16Array(msg.pcm), rms: msg.rms, at: performance.now() });
        }
      };
      const playback = new AudioWorkletNode(context, "vani-playback", {
        numberOfInputs: 0,
        numberOfOutputs: 1,
        outputChannelCount: [2],
      });
      playback.port.onmessage = (event) => this.handlePlayback(event.data);
      playback.connect(context.destination);
      const source = context.createMediaStreamSource(stream);
      source.connect(capture);
      if (context.state === "suspended") await context.resume();
      this.context = context;
      this.stream = stream;
      this.capture = capture;
      this.playback = playback;
      this.source = source;
    } catch (error) {
      for (const track of stream.getTracks()) track.stop();
      await context.close();
      throw error;
    }
  }

  // Context time (seconds) → page time (ms), at the moment the audio reaches the speaker.
  toPageTime(contextTime) {
    const now = performance.now();
    if (!this.context || typeof this.context.getOutputTimestamp !== "function") return now;
    const ts = this.context.getOutputTimestamp();
    if (!ts.performanceTime) return now;
    const at = ts.performanceTime + (contextTime - ts.contextTime) * 1000;
    return Math.abs(at - now) < 1000 ? at : now;
  }

  handlePlayback(msg) {
    if (msg.type === "started" || msg.type === "drained" || msg.type === "flushed") {
      msg.at = this.toPageTime(msg.time);
    }
    this.onPlayback(msg);
  }

  /** Queues bot audio (Float32Array, mono) at `sampleRate` Hz; playback starts at once. */
  play(samples, sampleRate) {
    if (!this.playback) return;
    this.playback.port.postMessage({ type: "chunk", samples, sampleRate }, [samples.buffer]);
  }

  /** Drops every queued sample; the next render quantum is silent. */
  flush() {
    if (this.playback) this.playback.port.postMessage({ type: "flush" });
  }

  setMuted(muted) {
    if (!this.stream) return;
    // A disabled track delivers silence, so the server's VAD sees the user stop.
    for (const track of this.stream.getAudioTracks()) track.enabled = !muted;
  }

  async stop() {
    const context = this.context;
    if (!context) return;
    this.context = null;
    if (this.source) this.source.disconnect();
    if (this.capture) this.capture.port.onmessage = null;
    if (this.playback) this.playback.port.onmessage = null;
    for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.capture = null;
    this.playback = null;
    this.source = null;
    await context.close();
  }
}
