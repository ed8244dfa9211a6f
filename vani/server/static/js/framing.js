// Wire framings for vani's web client (docs/browser.md, docs/protocol.md).
//
// Both turn outgoing microphone audio and RTVI messages into WebSocket messages, and incoming
// messages into {kind: "audio", samples, sampleRate, numChannels} or {kind: "rtvi", message}.
//
// - "raw": binary messages are s16le PCM, text messages are RTVI JSON. The rates are negotiated
//   when the call starts (the WebSocket URL carries them), so audio needs no header.
// - "protobuf": every message is one binary protobuf `Frame` as Pipecat's clients send it
//   (audio = field 2, message = field 4 carrying the RTVI JSON as text; interruption = field 5).
//   The few field types needed are encoded here by hand rather than pulling in a library.

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export function int16ToFloat32(int16) {
  const out = new Float32Array(int16.length);
  for (let i = 0; i < int16.length; i++) out[i] = int16[i] / 32768;
  return out;
}

export class RawFraming {
  constructor({ inputSampleRate, outputSampleRate }) {
    this.name = "raw";
    this.inputSampleRate = inputSampleRate;
    this.outputSampleRate = outputSampleRate;
  }

  encodeAudio(int16) {
    return int16.buffer.byteLength === int16.byteLength ? int16.buffer : int16.slice().buffer;
  }

  encodeMessage(message) {
    return JSON.stringify(message);
  }

  decode(data) {
    if (typeof data === "string") return { kind: "rtvi", message: JSON.parse(data) };
    const bytes = new Uint8Array(data);
    const usable = bytes.byteLength - (bytes.byteLength % 2);
    const int16 = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + usable));
    return {
      kind: "audio",
      samples: int16ToFloat32(int16),
      sampleRate: this.outputSampleRate,
      numChannels: 1,
    };
  }
}

// --- protobuf (proto3) -----------------------------------------------------------------------

class Writer {
  constructor() {
    this.parts = [];
    this.length = 0;
  }

  byte(b) {
    this.push(Uint8Array.of(b));
  }

  push(bytes) {
    this.parts.push(bytes);
    this.length += bytes.length;
  }

  varint(value) {
    // Values here are sample rates, lengths and small counts: below 2^32, so plain numbers do.
    const out = [];
    let v = value >>> 0;
    while (v > 0x7f) {
      out.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    out.push(v);
    this.push(Uint8Array.from(out));
  }

  tag(field, wireType) {
    this.varint((field << 3) | wireType);
  }

  bytesField(field, bytes) {
    this.tag(field, 2);
    this.varint(bytes.length);
    this.push(bytes);
  }

  varintField(field, value) {
    if (value === 0) return; // proto3 leaves defaults out
    this.tag(field, 0);
    this.varint(value);
  }

  finish() {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }

  done() {
    return this.at >= this.bytes.length;
  }

  varint() {
    // Fields above 2^53 (frame ids) lose precision but are only skipped, never used.
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.bytes.length) throw new Error("truncated varint");
      const b = this.bytes[this.at++];
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Error("varint longer than 10 bytes");
  }

  lengthDelimited() {
    const n = this.varint();
    if (this.at + n > this.bytes.length) throw new Error("truncated field");
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  skip(wireType) {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.at += 8;
    else if (wireType === 2) this.lengthDelimited();
    else if (wireType === 5) this.at += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
    if (this.at > this.bytes.length) throw new Error("truncated field");
  }

  // Calls visit(field, wireType) for each field; visit returns true when it consumed the value.
  fields(visit) {
    while (!this.done()) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wireType = key & 7;
      if (!visit(field, wireType)) this.skip(wireType);
    }
  }
}

export function encodeAudioFrame(int16, sampleRate, numChannels) {
  const audio = new Writer();
  audio.bytesField(3, new Uint8Array(int16.buffer, int16.byteOffset, int16.byteLength));
  audio.varintField(4, sampleRate);
  audio.varintField(5, numChannels);
  const frame = new Writer();
  frame.bytesField(2, audio.finish());
  return frame.finish();
}

export function encodeMessageFrame(json) {
  const message = new Writer();
  message.bytesField(1, textEncoder.encode(json));
  const frame = new Writer();
  frame.bytesField(4, message.finish());
  return frame.finish();
}

// Decodes one `Frame`: {kind: "audio"|"message"|"text"|"transcription"|"interruption", ...}.
export function decodeFrame(bytes) {
  let result = null;
  const r = new Reader(bytes);
  while (!r.done()) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    if (wireType !== 2 || field < 1 || field > 5) {
      r.skip(wireType);
      continue;
    }
    const inner = new Reader(r.lengthDelimited());
    if (field === 2) {
      const audio = { kind: "audio", audio: new Uint8Array(0), sampleRate: 0, numChannels: 0 };
      inner.fields((f, w) => {
        if (f === 3 && w === 2) audio.audio = inner.lengthDelimited();
        else if (f === 4 && w === 0) audio.sampleRate = inner.varint();
        else if (f === 5 && w === 0) audio.numChannels = inner.varint();
        else return false;
        return true;
      });
      result = audio;
    } else if (field === 4) {
      const message = { kind: "message", data: "" };
      inner.fields((f, w) => {
        if (f === 1 && w === 2) message.data = textDecoder.decode(inner.lengthDelimited());
        else return false;
        return true;
      });
      result = message;
    } else if (field === 1 || field === 3) {
      const text = { kind: field === 1 ? "text" : "transcription", text: "" };
      inner.fields((f, w) => {
        if (f === 3 && w === 2) text.text = textDecoder.decode(inner.lengthDelimited());
        else return false;
        return true;
      });
      result = text;
    } else {
      inner.fields(() => false);
      result = { kind: "interruption" };
    }
  }
  if (result === null) throw new Error("protobuf frame without a known kind");
  return result;
}

export class ProtobufFraming {
  constructor({ inputSampleRate }) {
    this.name = "protobuf";
    this.inputSampleRate = inputSampleRate;
  }

  encodeAudio(int16) {
    return encodeAudioFrame(int16, this.inputSampleRate, 1);
  }

  encodeMessage(message) {
    return encodeMessageFrame(JSON.stringify(message));
  }

  decode(data) {
    if (typeof data === "string") return { kind: "rtvi", message: JSON.parse(data) };
    const frame = decodeFrame(new Uint8Array(data));
    if (frame.kind === "message") return { kind: "rtvi", message: JSON.parse(frame.data) };
    if (frame.kind === "audio") {
      const usable = frame.audio.byteLength - (frame.audio.byteLength % 2);
      const copy = frame.audio.slice(0, usable);
      let samples = int16ToFloat32(new Int16Array(copy.buffer));
      const channels = frame.numChannels || 1;
      if (channels > 1) samples = downmix(samples, channels);
      return { kind: "audio", samples, sampleRate: frame.sampleRate, numChannels: 1 };
    }
    if (frame.kind === "interruption") return { kind: "interruption" };
    return { kind: "ignored", frame };
  }
}

function downmix(interleaved, channels) {
  const n = Math.floor(interleaved.length / channels);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let c = 0; c < channels; c++) acc += interleaved[i * channels + c];
    out[i] = acc / channels;
  }
  return out;
}
