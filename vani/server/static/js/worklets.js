// AudioWorklet processors for vani's web client (docs/browser.md).
//
// "vani-capture" downmixes the microphone to mono, resamples it to the rate the server asked for
// and posts 20 ms frames of s16le PCM with their level. "vani-playback" is the jitter buffer: it
// plays bot audio as soon as the first chunk arrives, resamples it to the device rate, reports
// when playback starts and drains, and drops everything queued the moment it is told to flush.

// A streaming windowed-sinc resampler. The kernel is tabulated once; each output sample is a dot
// product over the input samples within `halfWidth` of its position. State carries across calls,
// so feeding a signal in any split gives the same output as feeding it whole.
class StreamResampler {
  constructor(inRate, outRate) {
    this.inRate = inRate;
    this.outRate = outRate;
    this.passthrough = inRate === outRate;
    if (this.passthrough) return;
    // Cut off a little below the lower Nyquist frequency so that downsampling does not alias.
    this.cutoff = Math.min(1, outRate / inRate) * 0.92;
    const zeroCrossings = 16;
    this.halfWidth = Math.ceil(zeroCrossings / this.cutoff);
    this.resolution = 64; // table entries per input sample
    const n = this.halfWidth * this.resolution;
    this.table = new Float32Array(n + 2);
    for (let i = 0; i <= n; i++) {
      const x = i / this.resolution;
      const arg = Math.PI * this.cutoff * x;
      const sinc = x === 0 ? 1 : Math.sin(arg) / arg;
      const w = 0.42 + 0.5 * Math.cos((Math.PI * x) / this.halfWidth)
        + 0.08 * Math.cos((2 * Math.PI * x) / this.halfWidth);
      this.table[i] = this.cutoff * sinc * w;
    }
    // Input history. The position of the next output sample is kept exactly, as an integer
    // count of 1/outRate input samples, so any split of the input gives the same output.
    this.buffer = new Float32Array(4096);
    this.length = this.halfWidth; // leading zeros: the first output sits on the first input
    this.posNum = this.halfWidth * outRate;
  }

  // Returns the resampled samples for `input` (a Float32Array); may be empty.
  process(input) {
    if (this.passthrough) return input.slice();
    if (this.length + input.length > this.buffer.length) {
      const grown = new Float32Array(Math.max(this.buffer.length * 2, this.length + input.length));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    this.buffer.set(input, this.length);
    this.length += input.length;
    const hw = this.halfWidth;
    const outRate = this.outRate;
    const res = this.resolution;
    const table = this.table;
    const limit = table.length - 1;
    const out = new Float32Array(Math.ceil((this.length * outRate - this.posNum) / this.inRate) + 1);
    let count = 0;
    for (;;) {
      const center = Math.floor(this.posNum / outRate);
      if (center + hw >= this.length) break;
      const frac = this.posNum - center * outRate; // in 1/outRate input samples
      let acc = 0;
      for (let n = center - hw + 1; n <= center + hw; n++) {
        const a = (Math.abs((center - n) * outRate + frac) * res) / outRate;
        const i = a | 0;
        if (i < limit) acc += this.buffer[n] * (table[i] + (table[i + 1] - table[i]) * (a - i));
      }
      out[count++] = acc;
      this.posNum += this.inRate;
    }
    // Keep only the history the next output samples need.
    const keepFrom = Math.max(0, Math.floor(this.posNum / outRate) - hw);
    if (keepFrom > 0) {
      this.buffer.copyWithin(0, keepFrom, this.length);
      this.length -= keepFrom;
      this.posNum -= keepFrom * outRate;
    }
    return out.subarray(0, count);
  }
}

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = options.processorOptions || {};
    this.targetRate = opts.targetRate || 16000;
    this.frameSamples = Math.round((this.targetRate * (opts.frameMs || 20)) / 1000);
    this.resampler = new StreamResampler(sampleRate, this.targetRate);
    this.frame = new Int16Array(this.frameSamples);
    this.filled = 0;
    this.sumSquares = 0;
    this.mono = new Float32Array(128);
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0 || input[0].length === 0) return true;
    const frames = input[0].length;
    if (this.mono.length !== frames) this.mono = new Float32Array(frames);
    const mono = this.mono;
    mono.fill(0);
    for (let c = 0; c < input.length; c++) {
      const ch = input[c];
      for (let i = 0; i < frames; i++) mono[i] += ch[i];
    }
    if (input.length > 1) for (let i = 0; i < frames; i++) mono[i] /= input.length;
    const resampled = this.resampler.process(mono);
    for (let i = 0; i < resampled.length; i++) {
      const s = Math.max(-1, Math.min(1, resampled[i]));
      this.sumSquares += s * s;
      this.frame[this.filled++] = s < 0 ? Math.round(s * 32768) : Math.round(s * 32767);
      if (this.filled === this.frameSamples) {
        const rms = Math.sqrt(this.sumSquares / this.frameSamples);
        const pcm = this.frame.buffer;
        this.port.postMessage({ type: "frame", pcm, rms, time: currentTime }, [pcm]);
        this.frame = new Int16Array(this.frameSamples);
        this.filled = 0;
        this.sumSquares = 0;
      }
    }
    return true;
  }
}

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = []; // Float32Arrays at the device rate
    this.offset = 0; // read position in queue[0]
    this.queued = 0; // samples waiting
    this.resampler = null;
    this.playing = false;
    this.played = 0; // samples of bot audio rendered since the page loaded
    this.sumSquares = 0; // over `played`, for the page's RMS check
    this.levelSquares = 0;
    this.levelCount = 0;
    this.levelEvery = Math.round(sampleRate * 0.05);
    this.port.onmessage = (event) => this.onMessage(event.data);
  }

  onMessage(msg) {
    if (msg.type === "chunk") {
      if (!this.resampler || this.resampler.inRate !== msg.sampleRate) {
        this.resampler = new StreamResampler(msg.sampleRate, sampleRate);
      }
      const samples = this.resampler.process(msg.samples);
      if (samples.length > 0) {
        this.queue.push(samples);
        this.queued += samples.length;
      }
    } else if (msg.type === "flush") {
      const dropped = this.queued;
      this.queue = [];
      this.offset = 0;
      this.queued = 0;
      this.resampler = null;
      const wasPlaying = this.playing;
      this.playing = false;
      this.port.postMessage({
        type: "flushed",
        time: currentTime,
        droppedMs: (dropped / sampleRate) * 1000,
        wasPlaying,
        played: this.played,
        sampleRate,
      });
      this.postLevel(0);
    }
  }

  postLevel(rms) {
    this.port.postMessage({
      type: "level",
      rms,
      played: this.played,
      sumSquares: this.sumSquares,
      queuedMs: (this.queued / sampleRate) * 1000,
    });
  }

  process(_inputs, outputs) {
    const output = outputs[0];
    const frames = output[0].length;
    const out = output[0];
    let written = 0;
    while (written < frames && this.queue.length > 0) {
      const head = this.queue[0];
      const n = Math.min(frames - written, head.length - this.offset);
      out.set(head.subarray(this.offset, this.offset + n), written);
      written += n;
      this.offset += n;
      if (this.offset === head.length) {
        this.queue.shift();
        this.offset = 0;
      }
    }
    if (written < frames) out.fill(0, written);
    this.queued -= written;
    for (let c = 1; c < output.length; c++) output[c].set(out);
    if (written > 0) {
      if (!this.playing) {
        this.playing = true;
        this.port.postMessage({ type: "started", time: currentTime, played: this.played });
      }
      for (let i = 0; i < written; i++) {
        const s = out[i];
        this.sumSquares += s * s;
        this.levelSquares += s * s;
      }
      this.played += written;
      this.levelCount += frames;
      if (this.levelCount >= this.levelEvery) {
        this.postLevel(Math.sqrt(this.levelSquares / this.levelCount));
        this.levelSquares = 0;
        this.levelCount = 0;
      }
    }
    if (this.playing && this.queued === 0) {
      this.playing = false;
      this.levelSquares = 0;
      this.levelCount = 0;
      this.port.postMessage({
        type: "drained",
        time: currentTime + written / sampleRate,
        played: this.played,
      });
      this.postLevel(0);
    }
    return true;
  }
}

registerProcessor("vani-capture", CaptureProcessor);
registerProcessor("vani-playback", PlaybackProcessor);

// For the page's tests (worklet modules may export; the browser ignores it).
export { StreamResampler };
