// The page: binds VaniClient (client.js) to the DOM. Options come from the page's query string:
// ?framing=raw (default protobuf), ?rate=16000 (microphone rate sent), ?out_rate=24000 (bot
// audio rate with raw framing), ?reconnect=0.
import { VaniClient } from "./client.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const client = new VaniClient({
  framing: params.get("framing") === "raw" ? "raw" : "protobuf",
  inputSampleRate: Number(params.get("rate")) || 16000,
  outputSampleRate: Number(params.get("out_rate")) || 24000,
  reconnect: params.get("reconnect") !== "0",
});

const ui = {
  log: $("log"),
  userEntry: null, // the user bubble of the current turn
  botEntry: null, // the bot bubble being spoken
  tools: new Map(), // tool_call_id → entry
  latencies: [],
  pendingLatency: null, // measured before the bot's first words arrived
};

const STATE_LABELS = {
  idle: "Not connected",
  connecting: "Connecting…",
  ready: "Connected",
  reconnecting: "Reconnecting…",
  ended: "Call ended",
};

function scrollToEnd() {
  const box = ui.log.parentElement;
  box.scrollTop = box.scrollHeight;
}

function addEntry(kind, text) {
  $("empty").hidden = true;
  const li = document.createElement("li");
  li.className = `entry ${kind}`;
  li.textContent = text;
  ui.log.appendChild(li);
  scrollToEnd();
  return li;
}

function note(text) {
  return addEntry("note", text);
}

function showBanner(text, kind = "error") {
  $("banner-text").textContent = text;
  $("banner").dataset.kind = kind;
  $("banner").hidden = false;
}

function hideBanner() {
  $("banner").hidden = true;
}

function setSpeaking(who, speaking) {
  $(`party-${who}`).dataset.speaking = String(speaking);
  const label = who === "user" ? (speaking ? "speaking" : "quiet") : speaking ? "speaking" : "listening";
  $(`${who}-state`).textContent = label;
}

function setLevel(who, rms) {
  // Map RMS to a 0–100 % bar on a dB scale from -60 dBFS to 0.
  const db = rms > 0 ? 20 * Math.log10(rms) : -100;
  const pct = Math.max(0, Math.min(100, ((db + 60) / 60) * 100));
  $(`${who}-level`).style.width = `${pct.toFixed(0)}%`;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function onUserInput(data) {
  if (data.input_type === "chat") {
    addEntry("user", data.text);
    ui.userEntry = null;
    return;
  }
  if (!ui.userEntry) {
    ui.userEntry = addEntry("user interim", "");
    ui.userEntry.dataset.final = "";
  }
  const entry = ui.userEntry;
  const settled = entry.dataset.final;
  if (data.final) {
    entry.dataset.final = settled ? `${settled} ${data.text}` : data.text;
    entry.textContent = entry.dataset.final;
    entry.classList.remove("interim");
  } else {
    entry.textContent = settled ? `${settled} ${data.text}` : data.text;
    entry.classList.add("interim");
  }
  scrollToEnd();
}

function metaOf(entry) {
  let meta = entry.querySelector(".meta");
  if (!meta) {
    meta = document.createElement("span");
    meta.className = "meta";
    entry.appendChild(meta);
  }
  return meta;
}

function latencyMeta(entry, ms) {
  entry.dataset.latency = String(ms);
  metaOf(entry).prepend(`replied ${ms} ms after you stopped`);
}

function markInterrupted(entry) {
  entry.classList.add("interrupted");
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.textContent = "interrupted";
  metaOf(entry).appendChild(badge);
}

function onBotOutput(data) {
  if (!data.text) return;
  if (data.spoken === false) {
    // A reply in text only (send-text with audio_response false): shown whole, at once.
    const entry = addEntry("bot", "");
    entry.appendChild(document.createElement("span")).textContent = data.text;
    metaOf(entry).textContent = "text only";
    return;
  }
  if (!ui.botEntry) {
    ui.botEntry = addEntry("bot", "");
    ui.botEntry.appendChild(document.createElement("span")).className = "said";
    if (ui.pendingLatency !== null) latencyMeta(ui.botEntry, ui.pendingLatency);
    ui.pendingLatency = null;
  }
  const said = ui.botEntry.querySelector(".said");
  const joiner = said.textContent && !/^[\s,.;:!?]/.test(data.text) ? " " : "";
  said.textContent += joiner + data.text;
  scrollToEnd();
}

function toolEntry(data) {
  const id = data.tool_call_id || `tool-${ui.tools.size}`;
  let entry = ui.tools.get(id);
  if (!entry) {
    entry = addEntry("tool", "");
    ui.tools.set(id, entry);
  }
  return entry;
}

function renderTool(entry, data, status) {
  if (data.function_name) entry.dataset.name = data.function_name;
  entry.textContent = "";
  if (entry.dataset.name) {
    const code = document.createElement("code");
    code.textContent = entry.dataset.name;
    entry.append("Tool call ", code, ` · ${status}`);
  } else {
    entry.append(`Tool call · ${status}`);
  }
}

client.addEventListener("rtvi", (event) => {
  const { type, data } = event.detail.message;
  switch (type) {
    case "bot-ready":
      hideBanner();
      note(client.stats.sessions > 1 ? "Reconnected to the bot" : "Connected: say hello");
      break;
    case "user-started-speaking":
      setSpeaking("user", true);
      break;
    case "user-stopped-speaking":
      setSpeaking("user", false);
      break;
    case "bot-started-speaking":
      setSpeaking("bot", true);
      ui.userEntry = null;
      break;
    case "bot-stopped-speaking":
      setSpeaking("bot", false);
      ui.botEntry = null;
      break;
    case "bot-interrupted":
      if (ui.botEntry) markInterrupted(ui.botEntry);
      ui.botEntry = null;
      setSpeaking("bot", false);
      break;
    case "user-input":
    case "user-transcription":
      if (data && typeof data.text === "string") onUserInput(data);
      break;
    case "bot-output":
      if (data) onBotOutput(data);
      break;
    case "llm-function-call-started":
      renderTool(toolEntry(data || {}), data || {}, "started");
      break;
    case "llm-function-call-in-progress":
      renderTool(toolEntry(data || {}), data || {}, "running…");
      break;
    case "llm-function-call-stopped":
      renderTool(toolEntry(data || {}), data || {}, data && data.cancelled ? "cancelled" : "done");
      break;
    default:
      break;
  }
});

client.addEventListener("level", (event) => setLevel(event.detail.who, event.detail.rms));

client.addEventListener("latency", (event) => {
  const ms = Math.round(event.detail.ms);
  ui.latencies.push(ms);
  $("latency-last").textContent = `${ms} ms`;
  $("latency-median").textContent = `${Math.round(median(ui.latencies))} ms`;
  $("turns").textContent = String(ui.latencies.length);
  if (ui.botEntry && !ui.botEntry.dataset.latency) latencyMeta(ui.botEntry, ms);
  else ui.pendingLatency = ms;
  scrollToEnd();
});

client.addEventListener("problem", (event) => {
  const { message, fatal } = event.detail;
  showBanner(message, fatal ? "error" : "info");
});

client.addEventListener("state", (event) => {
  const { state } = event.detail;
  $("status").dataset.state = state;
  $("status").textContent = STATE_LABELS[state] || state;
  const active = state === "connecting" || state === "ready" || state === "reconnecting";
  const button = $("connect");
  button.dataset.active = String(active);
  button.textContent = active ? "Disconnect" : "Connect";
  $("mute").disabled = state !== "ready";
  $("typed").hidden = state !== "ready";
  if (state === "ready") hideBanner();
  if (!active) {
    setSpeaking("user", false);
    setSpeaking("bot", false);
    $("bot-state").textContent = "waiting";
    setLevel("user", 0);
    setLevel("bot", 0);
    ui.userEntry = null;
    ui.botEntry = null;
  }
  if (state === "ended") note("Call ended");
});

$("connect").addEventListener("click", async () => {
  if (client.state === "idle" || client.state === "ended") {
    hideBanner();
    try {
      await client.connect();
    } catch {
      // shown by the "problem" event
    }
  } else {
    await client.disconnect();
    note("You hung up");
  }
});

$("mute").addEventListener("click", () => {
  const muted = !client.muted;
  client.setMuted(muted);
  $("mute").setAttribute("aria-pressed", String(muted));
  $("mute").textContent = muted ? "Unmute" : "Mute";
});

$("typed").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("typed-text");
  const text = input.value.trim();
  if (!text) return;
  client.sendText(text);
  input.value = "";
});

$("banner-close").addEventListener("click", hideBanner);

// For tests and the curious: the client, its counters and the page's latency list.
window.vani = { client, ui };
