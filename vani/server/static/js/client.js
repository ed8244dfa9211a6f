// vani's browser client: the protocol side (docs/browser.md).
//
// Speaks what Pipecat's clients speak: POST /start → {wsUrl, token} → WebSocket (token in the
// query) → RTVI `client-ready` → `bot-ready`. Dispatches DOM events on itself:
//   "state"    {state, previous}         idle | connecting | ready | reconnecting | ended
//   "rtvi"     {message}                 every RTVI message from the server
//   "level"    {who: "user"|"bot", rms}  audio levels, ~20 per second each
//   "latency"  {ms, turn}                user stopped → first bot audio played (page clock)
//   "problem"  {message, kind, fatal}    errors in plain words
import { AudioEngine, MicrophoneError } from "./audio.js";
import { ProtobufFraming, RawFraming } from "./framing.js";

export const CLIENT_VERSION = "0.1.0";
const RTVI_VERSION = "2.2.0";
const RTVI_LABEL = "rtvi-ai";
// Microphone frames above this RMS count as the user's voice for the latency clock.
const VOICE_RMS = 0.015;
// Audio captured before `bot-ready` is queued (as Pipecat's client does), up to this much.
const MAX_PENDING_FRAMES = 500;
// Close codes after which the page reconnects on its own: the server went away or restarted.
const RECONNECT_CODES = new Set([1001, 1006, 1011, 1012]);
const RECONNECT_DELAYS_MS = [500, 1000, 2000, 3000, 5000, 5000, 5000, 5000];
// How long the page waits for `bot-ready` after the socket opens.
const READY_TIMEOUT_MS = 20000;

let nextId = 1;
function messageId() {
  return `c${Date.now().toString(36)}-${nextId++}`;
}

export class CallError extends Error {
  constructor(message, kind, { retry = false } = {}) {
    super(message);
    this.name = "CallError";
    this.kind = kind;
    this.retry = retry;
  }
}

function closeExplanation(code, reason) {
  const why = (reason || "").toLowerCase();
  if (code === 1013) {
    return new CallError("The server is full right now. Try again in a little while.", "full");
  }
  if (code === 4003 || code === 1008) {
    return new CallError(
      "The server refused the call (its token or this page's origin was not accepted). " +
        "Reload the page and connect again.",
      "refused",
    );
  }
  if (code === 1009) {
    return new CallError("The server closed the call: a message was too large.", "protocol");
  }
  if (why.includes("timeout") || why.includes("idle") || why.includes("time limit")) {
    return new CallError(
      "The call ended because it reached the server's session time limit.",
      "timeout",
    );
  }
  if (code === 1000) return new CallError("The bot ended the call.", "ended");
  const restarting = code === 1001 || code === 1012 ? " (it may be restarting)" : "";
  return new CallError(`Lost the connection to the server${restarting}. Reconnecting…`, "lost", {
    retry: true,
  });
}

export class VaniClient extends EventTarget {
  /**
   * @param {object} [options]
   * @param {string} [options.startUrl] endpoint that returns {wsUrl, token}; default "/start"
   * @param {"raw"|"protobuf"} [options.framing] wire framing; default "protobuf" (Pipecat's:
   *   every audio frame carries its rate). "raw" sends PCM at `inputSampleRate` and reads bot
   *   audio at `outputSampleRate` (the server's pipeline rate; 24 kHz unless the bot changes it)
   * @param {number} [options.inputSampleRate] microphone rate sent to the server; default 16000
   * @param {number} [options.outputSampleRate] bot audio rate with raw framing; default 24000
   * @param {boolean} [options.reconnect] reconnect when the server goes away; default true
   */
  constructor(options = {}) {
    super();
    this.startUrl = options.startUrl || "/start";
    this.framingName = options.framing === "raw" ? "raw" : "protobuf";
    this.inputSampleRate = options.inputSampleRate || 16000;
    this.outputSampleRate = options.outputSampleRate || 24000;
    this.reconnectEnabled = options.reconnect !== false;
    this.state = "idle";
    this.ws = null;
    this.framing = null;
    this.muted = false;
    this.pending = [];
    this.userDisconnect = false;
    this.reconnectTimer = null;
    this.readyWaiter = null;
    this.lastVoiceAt = null;
    this.turn = null;
    this.turnCount = 0;
    this.botReady = null;
    this.interruptedAt = null;
    this.bargeIn = null;
    this.botSpeaking = false;
    this.drainedAt = null;
    this.stats = {
      botPlayedSamples: 0,
      botSumSquares: 0,
      botStarted: 0,
      flushes: [],
      // Barge-ins that cut audio: what was dropped, how long after the bot-interrupted message
      // the speaker went quiet, and how much bot audio still played before the user's next
      // turn ended (stale audio; should be none).
      bargeIns: [],
      latencies: [],
      // Each latency split at the moment the server said the user stopped (its VAD's verdict
      // reached the page): before it, the VAD's silence wait; after it, the bot's reply.
      latencyParts: [],
      // Playback ran dry while the server still said the bot was speaking (jitter-buffer
      // underruns): how many, and the silence they left.
      gaps: 0,
      gapMs: 0,
      messages: [],
      sessions: 0,
      framesSent: 0,
    };
    this.audio = new AudioEngine({
      inputSampleRate: this.inputSampleRate,
      onFrame: (frame) => this.onMicFrame(frame),
      onPlayback: (event) => this.onPlayback(event),
    });
  }

  setState(state) {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this.emit("state", { state, previous });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  problem(error, fatal = true) {
    const message = error instanceof Error ? error.message : String(error);
    const kind = error && error.kind ? error.kind : error && error.reason ? "microphone" : "error";
    this.emit("problem", { message, kind, fatal });
  }

  /** Opens the microphone and starts a call; resolves once the bot is ready. */
  async connect() {
    if (this.state === "connecting" || this.state === "ready") return;
    this.userDisconnect = false;
    this.setState("connecting");
    try {
      await this.audio.start();
      if (this.userDisconnect) throw new CallError("The call was cancelled.", "cancelled");
      this.audio.setMuted(this.muted);
      await this.openSession();
    } catch (error) {
      await this.teardown();
      this.setState("idle");
      if (error instanceof CallError && error.kind === "cancelled") return;
      this.problem(error);
      throw error;
    }
  }

  async requestSession() {
    let response;
    try {
      response = await fetch(this.startUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          transport: "websocket",
        }),
      });
    } catch {
      throw new CallError(
        `Cannot reach the vani server at ${new URL(this.startUrl, location.href).origin}. ` +
          "Is it still running?",
        "unreachable",
        { retry: true },
      );
    }
    if (response.status === 503) {
      throw new CallError(
        "The server is full right now (every call slot is busy). Try again shortly.",
        "full",
      );
    }
    if (response.status === 401 || response.status === 403) {
      throw new CallError("The server refused to start a call from this page.", "refused");
    }
    if (!response.ok) {
      throw new CallError(
        `The server could not start a call (HTTP ${response.status}).`,
        "server",
        { retry: response.status >= 500 },
      );
    }
    const body = await response.json();
    if (!body || typeof body.wsUrl !== "string") {
      throw new CallError("The server's answer to /start had no wsUrl.", "protocol");
    }
    return body;
  }

  buildSocketUrl({ wsUrl, token }) {
    const url = new URL(wsUrl, location.href);
    if (url.protocol === "http:") url.protocol = "ws:";
    if (url.protocol === "https:") url.protocol = "wss:";
    if (token) url.searchParams.set("token", token);
    url.searchParams.set("format", this.framingName);
    if (this.framingName === "raw") {
      url.searchParams.set("sample_rate", String(this.inputSampleRate));
      url.searchParams.set("channels", "1");
    }
    return url.toString();
  }

  async openSession() {
    const session = await this.requestSession();
    this.framing =
      this.framingName === "protobuf"
        ? new ProtobufFraming({ inputSampleRate: this.inputSampleRate })
        : new RawFraming({
            inputSampleRate: this.inputSampleRate,
            outputSampleRate: this.outputSampleRate,
          });
    const ws = new WebSocket(this.buildSocketUrl(session));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let timer = null;
    await new Promise((resolve, reject) => {
      this.readyWaiter = { resolve, reject };
      timer = setTimeout(() => {
        if (this.readyWaiter === null || this.ws !== ws) return;
        this.readyWaiter = null;
        this.ws = null;
        ws.onclose = null;
        ws.close();
        reject(
          new CallError(
            "The bot did not answer: the call connected, but no bot-ready came within " +
              `${READY_TIMEOUT_MS / 1000} s.`,
            "timeout",
            { retry: true },
          ),
        );
      }, READY_TIMEOUT_MS);
      ws.onopen = () => {
        this.stats.sessions += 1;
        this.sendMessage("client-ready", {
          version: RTVI_VERSION,
          about: {
            library: "vani-web",
            library_version: CLIENT_VERSION,
            platform: navigator.platform || "browser",
            audio_in_sample_rate: this.inputSampleRate,
            audio_in_channels: 1,
          },
        });
      };
      ws.onmessage = (event) => this.onSocketMessage(event.data);
      ws.onerror = () => {};
      ws.onclose = (event) => this.onSocketClose(ws, event);
    }).finally(() => clearTimeout(timer));
  }

  sendMessage(type, data = {}) {
    const message = { label: RTVI_LABEL, type, id: messageId(), data };
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(this.framing.encodeMessage(message));
    }
    return message.id;
  }

  /** Types a message to the bot, as Pipecat's `send-text`. */
  sendText(content, { runImmediately = true, audioResponse = true } = {}) {
    return this.sendMessage("send-text", {
      content,
      options: { run_immediately: runImmediately, audio_response: audioResponse },
    });
  }

  setMuted(muted) {
    this.muted = muted;
    this.audio.setMuted(muted);
  }

  /** Ends the call: tells the bot, closes the socket and releases the microphone. */
  async disconnect() {
    this.userDisconnect = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.sendMessage("disconnect-bot", {});
      this.ws.close(1000, "client disconnected");
    }
    await this.teardown();
    this.setState("idle");
  }

  async teardown() {
    const ws = this.ws;
    this.ws = null;
    if (this.readyWaiter) {
      const waiter = this.readyWaiter;
      this.readyWaiter = null;
      waiter.reject(new CallError("The call was cancelled.", "cancelled"));
    }
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
    }
    this.pending = [];
    this.turn = null;
    this.audio.flush();
    await this.audio.stop();
  }

  onMicFrame(frame) {
    if (frame.rms >= VOICE_RMS && !this.muted) this.lastVoiceAt = frame.at;
    this.emit("level", { who: "user", rms: this.muted ? 0 : frame.rms });
    if (!this.ws) return;
    const wire = this.framing.encodeAudio(frame.pcm);
    if (this.state !== "ready") {
      this.pending.push(wire);
      if (this.pending.length > MAX_PENDING_FRAMES) this.pending.shift();
      return;
    }
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(wire);
      this.stats.framesSent += 1;
    }
  }

  onPlayback(event) {
    if (event.type === "level") {
      this.stats.botPlayedSamples = event.played;
      this.stats.botSumSquares = event.sumSquares;
      this.emit("level", { who: "bot", rms: event.rms });
      return;
    }
    if (event.type === "drained") {
      this.drainedAt = this.botSpeaking ? event.at : null;
    }
    if (event.type === "started") {
      this.stats.botStarted += 1;
      if (this.drainedAt !== null && this.botSpeaking) {
        this.stats.gaps += 1;
        this.stats.gapMs += event.at - this.drainedAt;
      }
      this.drainedAt = null;
      if (this.turn && this.turn.botStartedAt === null) {
        this.turn.botStartedAt = event.at;
        const ms = event.at - this.turn.userStoppedAt;
        this.stats.latencies.push(ms);
        this.stats.latencyParts.push({
          total: ms,
          untilServerSaidStopped: this.turn.serverSaidStoppedAt - this.turn.userStoppedAt,
          afterServerSaidStopped: event.at - this.turn.serverSaidStoppedAt,
        });
        this.emit("latency", { ms, turn: this.turn.index });
      }
    } else if (event.type === "flushed") {
      this.stats.botPlayedSamples = event.played;
      this.stats.flushes.push({ at: event.at, droppedMs: event.droppedMs, played: event.played });
      if (event.wasPlaying && this.interruptedAt !== null) {
        this.bargeIn = {
          droppedMs: event.droppedMs,
          quietAfterMs: event.at - this.interruptedAt,
          playedAtFlush: event.played,
          sampleRate: event.sampleRate,
          staleMs: null,
        };
        this.stats.bargeIns.push(this.bargeIn);
      }
      this.interruptedAt = null;
    }
    if (event.played !== undefined) this.stats.botPlayedSamples = event.played;
    this.emit("playback", event);
  }

  onSocketMessage(data) {
    let decoded;
    try {
      decoded = this.framing.decode(data);
    } catch (error) {
      console.warn("vani: dropped a message the page could not read", error);
      return;
    }
    if (decoded.kind === "audio") {
      if (decoded.samples.length > 0 && decoded.sampleRate > 0) {
        this.audio.play(decoded.samples, decoded.sampleRate);
      }
      return;
    }
    if (decoded.kind === "interruption") {
      this.interruptedAt ??= performance.now();
      this.audio.flush();
      return;
    }
    if (decoded.kind !== "rtvi") return;
    const message = decoded.message;
    if (!message || message.label !== RTVI_LABEL) return;
    this.stats.messages.push(message.type);
    this.handleRtvi(message);
    this.emit("rtvi", { message });
  }

  handleRtvi(message) {
    const data = message.data || {};
    switch (message.type) {
      case "bot-ready": {
        this.botReady = data;
        this.setState("ready");
        for (const wire of this.pending) this.ws.send(wire);
        this.stats.framesSent += this.pending.length;
        this.pending = [];
        if (this.readyWaiter) this.readyWaiter.resolve(data);
        this.readyWaiter = null;
        break;
      }
      case "bot-started-speaking":
        this.botSpeaking = true;
        break;
      case "bot-stopped-speaking":
        this.botSpeaking = false;
        this.drainedAt = null;
        break;
      case "bot-interrupted":
        this.interruptedAt ??= performance.now();
        this.audio.flush();
        break;
      case "user-stopped-speaking": {
        const now = performance.now();
        if (this.bargeIn) {
          const stale = this.stats.botPlayedSamples - this.bargeIn.playedAtFlush;
          this.bargeIn.staleMs = (stale / this.bargeIn.sampleRate) * 1000;
          this.bargeIn = null;
        }
        const voiced = this.lastVoiceAt !== null && now - this.lastVoiceAt < 3000;
        this.turnCount += 1;
        this.turn = {
          index: this.turnCount,
          userStoppedAt: voiced ? this.lastVoiceAt : now,
          serverSaidStoppedAt: now,
          botStartedAt: null,
        };
        break;
      }
      case "error":
        this.problem(new CallError(`The bot reported an error: ${data.error}`, "bot"), !!data.fatal);
        break;
      case "error-response":
        this.problem(new CallError(`The bot refused a request: ${data.error}`, "bot"), false);
        break;
      default:
        break;
    }
  }

  onSocketClose(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.pending = [];
    this.turn = null;
    this.audio.flush();
    const error = closeExplanation(event.code, event.reason);
    if (this.readyWaiter) {
      const waiter = this.readyWaiter;
      this.readyWaiter = null;
      waiter.reject(error);
      return;
    }
    if (this.userDisconnect) return;
    if (error.retry && this.reconnectEnabled) {
      this.problem(error, false);
      this.scheduleReconnect(0);
      return;
    }
    console.info(`vani: the server closed the call (code ${event.code} ${event.reason})`);
    this.problem(error, error.kind !== "ended" && error.kind !== "timeout");
    this.teardown().then(() => this.setState("ended"));
  }

  scheduleReconnect(attempt) {
    if (attempt >= RECONNECT_DELAYS_MS.length) {
      this.problem(
        new CallError(
          "Could not reconnect to the server. Check that it is running, then connect again.",
          "lost",
        ),
      );
      this.teardown().then(() => this.setState("ended"));
      return;
    }
    this.setState("reconnecting");
    this.reconnectTimer = setTimeout(async () => {
      this.reconnectTimer = null;
      if (this.userDisconnect) return;
      try {
        await this.openSession();
        this.emit("reconnected", { attempt: attempt + 1 });
      } catch (error) {
        if (this.userDisconnect) return;
        if (error instanceof CallError && !error.retry) {
          this.problem(error);
          await this.teardown();
          this.setState("ended");
          return;
        }
        this.scheduleReconnect(attempt + 1);
      }
    }, RECONNECT_DELAYS_MS[attempt]);
  }
}

export { MicrophoneError };
