// Chat and file sharing between the participants of a live session, peer to
// peer over two negotiated WebRTC data channels (DESIGN.md, "Data
// channels"): the server never sees a message's text or a file's bytes, only
// what `report` is given (digests, sizes, types, the shared file's name).
// No DOM: the page shows what the events carry.
//
// How the call page wires it (web-client/sharing.js does, for app.js):
//
//   import { createExchange } from "/exchange.js";
//   // once the page knows who it is (welcome):
//   state.exchange = createExchange({ self: state.me.participant, report: (msg) => record(msg) });
//   // in newPeer(id), right after `new RTCPeerConnection(...)` and before any
//   // offer or answer (the channels are negotiated: both ends create them):
//   state.exchange.attach(pc, id);
//   // wherever a peer is dropped (syncPeers, closePeers), before pc.close():
//   state.exchange.detach(id);
//   // the page:
//   state.exchange.addEventListener("chat", (e) => showChat(e.detail));       // {id, from, text, at, digest, mine}
//   state.exchange.addEventListener("incoming", (e) => showTransfer(e.detail)); // an IncomingShare (progress, cancel())
//   state.exchange.addEventListener("file", (e) => e.detail.ok              // {id, from, name, type, size, blob, ok, ...}
//     ? openViewer(e.detail.blob, { name: e.detail.name }) : warnMismatch(e.detail));
//   await state.exchange.sendChat(text);                 // rejects with ExchangeError (code) when refused
//   const share = state.exchange.share(file, file.name); // an OutgoingShare (progress, cancel(), finished)
//   // to send a file only once the server recorded its offer (DESIGN.md addendum):
//   createExchange({ ..., hooks: { beforeOffer: (offer) => recorded(offer.share) } });
//   // both take { to: [participant ids] } to leave someone out (e.g. the patient).
//
// The server must serve hash-worker.js beside this file (files are hashed
// there, off the main thread; without it they are hashed in the page, which
// then stalls ~2.5 ms per MiB).
//
// Beyond DESIGN.md: a received file's type is the one found in its bytes
// (sniffType), never the sender's word, so a peer cannot make the page show
// HTML from a blob: URL; the sender reports `cancelled` when every recipient
// left before the end; a receiver refusing a file (too large) reports
// `cancelled` itself.
//
// Transfers are queued, not multiplexed: to each peer, one outgoing file at a
// time (a second `share` waits, state "queued"); both directions run at
// once. So a binary chunk needs no header: it belongs to the one transfer
// the channel is carrying that way.

/** The data channels' negotiated ids (DESIGN.md). */
export const CHAT_CHANNEL_ID = 1;
export const FILES_CHANNEL_ID = 2;
/** The longest chat message, in characters (Unicode code points). */
export const CHAT_MAX_CHARS = 4000;
/** The size of one binary chunk on the files channel. */
export const CHUNK_SIZE = 64 * 1024;
/** Sending resumes when the channel's buffer falls to this... */
export const LOW_WATER = 1024 * 1024;
/** ...after pausing above this. */
export const HIGH_WATER = 8 * 1024 * 1024;
/** The largest file shared (DESIGN.md: ≤ 1 GiB per share). */
export const SHARE_MAX_BYTES = 1024 ** 3;
/** The longest file name, in UTF-8 bytes. */
export const NAME_MAX_BYTES = 255;
/** The media types a share may be reported with (DocumentType). */
export const MEDIA_TYPES = ["image/jpeg", "image/png", "image/webp", "application/pdf", "application/dicom"];

// The file is read from its Blob a block at a time and sent as chunks.
const READ_BLOCK = 16 * CHUNK_SIZE;
// Progress is told at most once per this many bytes (and at the end).
const PROGRESS_STEP = 1024 * 1024;
// Received chunks are gathered into a Blob every this many bytes, so the
// browser may keep them out of the JavaScript heap (a copy on the main
// thread, some 7 ms each).
const ROLL_BYTES = 4 * 1024 * 1024;
// A control frame (JSON) larger than this is not parsed.
const FRAME_MAX_CHARS = 64 * 1024;
const HEX32 = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** Why an exchange refused a call: `code` is stable (the page translates it). */
export class ExchangeError extends Error {
  /** @param {"empty"|"too_long"|"no_peer"|"not_a_file"|"too_large"} code */
  constructor(code) {
    super(`exchange: ${code}`);
    this.name = "ExchangeError";
    this.code = code;
  }
}

// ------------------------------------------------------------------ bytes

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const randomHex = (n) => hex(crypto.getRandomValues(new Uint8Array(n)));
const fromHex = (s) => Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));
const chars = (s) => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** SHA-256 of `data` (ArrayBuffer or view), lowercase hex. */
export async function sha256Hex(data) {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", data)));
}

// Files are hashed in a worker (hash-worker.js), created on first use. If
// it cannot start (the script missing), files are hashed here instead.
let hasher = null;
const hashJobs = new Map(); // job -> { resolve, reject }
let nextJob = 0;
class HasherUnavailable extends Error {}

function startHasher() {
  try {
    hasher = new Worker(new URL("./hash-worker.js", import.meta.url));
  } catch {
    hasher = false;
    return;
  }
  hasher.onmessage = (e) => {
    const { job, digest, error } = e.data;
    const pending = hashJobs.get(job);
    hashJobs.delete(job);
    if (error) pending?.reject(new Error(error));
    else pending?.resolve(hex(new Uint8Array(digest)));
  };
  hasher.onerror = (e) => {
    e.preventDefault();
    hasher.terminate();
    hasher = false;
    for (const { reject } of hashJobs.values()) reject(new HasherUnavailable());
    hashJobs.clear();
  };
}

/** SHA-256 of a Blob (lowercase hex), computed off the main thread when it can be. */
export async function sha256Blob(blob) {
  if (hasher === null && typeof Worker === "function") startHasher();
  if (hasher) {
    try {
      return await new Promise((resolve, reject) => {
        const job = nextJob++;
        hashJobs.set(job, { resolve, reject });
        hasher.postMessage({ job, blob });
      });
    } catch (e) {
      if (!(e instanceof HasherUnavailable)) throw e;
    }
  }
  return sha256Hex(await blob.arrayBuffer());
}

/** A chat message's digest: SHA-256(salt ‖ UTF-8 text), `salt` 16 bytes in hex. */
export async function chatDigest(saltHex, text) {
  const utf8 = new TextEncoder().encode(text);
  const buf = new Uint8Array(16 + utf8.length);
  buf.set(fromHex(saltHex));
  buf.set(utf8, 16);
  return sha256Hex(buf);
}

/**
 * The media type of a file by its first bytes (at least 132 for DICOM), as
 * the server's `DocumentType::sniff` does, or null for any other file.
 */
export function sniffType(bytes) {
  const at = (offset, sig) => sig.every((b, i) => bytes[offset + i] === b);
  const ascii = (s) => Array.from(s, (c) => c.charCodeAt(0));
  if (at(0, [0xff, 0xd8, 0xff])) return "image/jpeg";
  if (at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "image/png";
  if (bytes.length >= 12 && at(0, ascii("RIFF")) && at(8, ascii("WEBP"))) return "image/webp";
  if (at(0, ascii("%PDF-"))) return "application/pdf";
  if (bytes.length >= 132 && at(128, ascii("DICM"))) return "application/dicom";
  return null;
}

/**
 * A file name safe to show and to save: no directories, no control or
 * bidirectional-override characters, no characters Windows refuses, no
 * leading dots, at most 255 UTF-8 bytes (the extension kept); "fichier" if
 * nothing is left.
 */
export function sanitizeName(name) {
  let s = String(name ?? "").normalize("NFC");
  s = s.split(/[\\/]/).pop();
  s = s.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, "");
  s = s.replace(/[<>:"|?*]/g, "_").trim().replace(/^[.\s]+/, "").replace(/[.\s]+$/, "");
  const bytes = (x) => new TextEncoder().encode(x).length;
  if (bytes(s) > NAME_MAX_BYTES) {
    const dot = s.lastIndexOf(".");
    const ext = dot > 0 && s.length - dot <= 16 ? s.slice(dot) : "";
    let stem = "";
    for (const c of s.slice(0, s.length - ext.length)) {
      if (bytes(stem + c + ext) > NAME_MAX_BYTES) break;
      stem += c;
    }
    s = stem + ext;
  }
  return s || "fichier";
}

// ---------------------------------------------------------------- handles

/**
 * A file this page shares. Properties: `id` (hex32), `name` (sanitised),
 * `size`, `type` (a MEDIA_TYPES entry or null, known once hashed), `digest`
 * (hex64, once hashed), `state` ("hashing" | "offering" (with the
 * `beforeOffer` hook: waiting for it) | "queued" | "sending" | "done" |
 * "cancelled" | "failed"), `reason` when cancelled ("self" | "peer" |
 * "peer_left") or failed ("unreadable", "refused": the hook rejected, with
 * its error's `code` in `refusal`), `sent`, `total` (size × recipients).
 * Events: `progress` {sent, total, fraction}, `statechange` {state, reason}.
 * `finished` resolves with the final state; `cancel()` stops it both sides.
 */
export class OutgoingShare extends EventTarget {
  constructor(exchange, file, name, recipients) {
    super();
    this.id = randomHex(16);
    this.name = name;
    this.size = file.size;
    this.type = null;
    this.digest = null;
    this.state = "hashing";
    this.reason = null;
    this.sent = 0;
    this.total = file.size * recipients;
    this.file = file;
    this.offered = false;
    this.targets = new Map(); // peer id -> { state, sent, wake }
    this.finished = new Promise((resolve) => (this.settle = resolve));
    this.exchange = exchange;
  }
  /** Stops the share: to every recipient still receiving it, and reports it. */
  cancel() {
    this.exchange._cancelOutgoing(this);
  }
  _state(state, reason = null) {
    if (this.state === state) return;
    this.state = state;
    this.reason = reason;
    this.dispatchEvent(new CustomEvent("statechange", { detail: { state, reason } }));
    if (["done", "cancelled", "failed"].includes(state)) {
      this.file = null;
      this.settle(state);
    }
  }
  _progress() {
    let sent = 0;
    for (const t of this.targets.values()) sent += t.sent;
    if (sent === this.sent && sent) return; // told already
    this.sent = sent;
    const fraction = this.total ? sent / this.total : 1;
    this.dispatchEvent(new CustomEvent("progress", { detail: { sent, total: this.total, fraction } }));
  }
}

/**
 * A file a peer shares with this page. Properties: `id`, `from` (participant),
 * `name` (sanitised), `size`, `type` (as the sender announced it; the `file`
 * event carries the type found in the bytes), `expected` (the offer's
 * digest), `received`, `state` ("receiving" | "verifying" | "done" |
 * "cancelled" | "failed"), `reason` when cancelled ("self" | "peer" |
 * "peer_left") or failed ("protocol"). Events: `progress` {received, size,
 * fraction}, `statechange` {state, reason}. `cancel()` stops it both sides.
 */
export class IncomingShare extends EventTarget {
  constructor(exchange, peer, offer) {
    super();
    this.id = offer.id;
    this.from = peer.id;
    this.name = sanitizeName(offer.name);
    this.size = offer.size;
    this.type = typeof offer.type === "string" ? offer.type.slice(0, 100) : "";
    this.expected = offer.digest;
    this.received = 0;
    this.state = "receiving";
    this.reason = null;
    this.parts = []; // ArrayBuffers not yet rolled into a Blob
    this.partBytes = 0;
    this.blobs = [];
    this.told = 0; // bytes at the last progress event
    this.exchange = exchange;
    this.peer = peer;
  }
  /** Refuses the rest of the file: the sender stops, and it is reported. */
  cancel() {
    this.exchange._cancelIncoming(this);
  }
  _state(state, reason = null) {
    if (this.state === state) return;
    this.state = state;
    this.reason = reason;
    if (state !== "verifying") {
      this.parts = [];
      this.blobs = [];
    }
    this.dispatchEvent(new CustomEvent("statechange", { detail: { state, reason } }));
  }
  _progress(force = false) {
    if (force ? this.told === this.received && this.size : this.received - this.told < PROGRESS_STEP) return;
    this.told = this.received;
    const fraction = this.size ? this.received / this.size : 1;
    this.dispatchEvent(new CustomEvent("progress", { detail: { received: this.received, size: this.size, fraction } }));
  }
}

// --------------------------------------------------------------- exchange

/**
 * Chat and file sharing with every attached peer. Events (CustomEvent
 * `detail`): `open` {peer} when a peer's two channels are open, `closed`
 * {peer, reason} when they are gone, `chat` {id, from, text, at, digest,
 * mine} for each message sent or received, `incoming` (an IncomingShare) when
 * a peer offers a file, `file` {id, from, name, type, size, blob, ok, digest,
 * expected} when it is complete (`blob` null unless `ok`; `type` found in the
 * bytes, "application/octet-stream" when none of MEDIA_TYPES), `error` {peer,
 * code, id} when a peer's frame is refused ("malformed" | "too_large" |
 * "protocol").
 */
export class Exchange extends EventTarget {
  #self;
  #report;
  #now;
  #maxSize;
  #hooks;
  #peers = new Map(); // participant id -> peer record

  constructor({ self, report, now = () => Date.now(), maxSize = SHARE_MAX_BYTES, hooks = {} }) {
    super();
    this.#self = self;
    this.#report = report;
    this.#now = now;
    this.#maxSize = Math.min(maxSize, SHARE_MAX_BYTES);
    this.#hooks = hooks;
  }

  /**
   * Creates the two negotiated channels on `pc` for participant `peer`;
   * call before the offer (or answer) is made. A peer attached again (a new
   * connection) replaces the old one.
   */
  attach(pc, peer) {
    if (this.#peers.has(peer)) this.detach(peer);
    const chat = pc.createDataChannel("chat", { negotiated: true, id: CHAT_CHANNEL_ID, ordered: true });
    const files = pc.createDataChannel("files", { negotiated: true, id: FILES_CHANNEL_ID, ordered: true });
    files.binaryType = "arraybuffer";
    files.bufferedAmountLowThreshold = LOW_WATER;
    const p = { id: peer, pc, chat, files, queue: [], sending: null, incoming: null, gone: false, chatChain: Promise.resolve() };
    this.#peers.set(peer, p);
    const opened = () => {
      if (chat.readyState === "open" && files.readyState === "open") this.#emit("open", { peer });
    };
    chat.addEventListener("open", opened);
    files.addEventListener("open", opened);
    chat.addEventListener("message", (e) => this.#onChat(p, e.data));
    files.addEventListener("message", (e) => this.#onFiles(p, e.data));
    const closed = () => this.#lost(p, "peer_left");
    chat.addEventListener("close", closed);
    files.addEventListener("close", closed);
  }

  /** The peer left (or its connection is being replaced): ends what was under way with it. */
  detach(peer) {
    const p = this.#peers.get(peer);
    if (!p) return;
    this.#lost(p, "peer_left");
    p.chat.close();
    p.files.close();
  }

  /** Detaches every peer. */
  close() {
    for (const id of [...this.#peers.keys()]) this.detach(id);
  }

  /** The participants whose channels are open now. */
  get openPeers() {
    return [...this.#peers.values()].filter((p) => !p.gone && p.chat.readyState === "open").map((p) => p.id);
  }

  /**
   * Sends `text` to every peer whose chat channel is open (or those of them
   * listed in `to`), reports its digest once, emits `chat` (mine) and
   * resolves with it. Rejects with ExchangeError "empty", "too_long" (over
   * CHAT_MAX_CHARS) or "no_peer".
   */
  async sendChat(text, { to } = {}) {
    text = String(text);
    if (!text.trim()) throw new ExchangeError("empty");
    if (chars(text) > CHAT_MAX_CHARS) throw new ExchangeError("too_long");
    const id = randomHex(16);
    const salt = randomHex(16);
    const at = this.#now();
    const digest = await chatDigest(salt, text);
    const frame = JSON.stringify({ t: "chat", id, salt, text, at });
    let sent = 0;
    for (const p of this.#peers.values()) {
      if (p.gone || p.chat.readyState !== "open" || (to && !to.includes(p.id))) continue;
      try {
        p.chat.send(frame);
        sent++;
      } catch {
        // closing under us: the `close` event ends it
      }
    }
    if (!sent) throw new ExchangeError("no_peer");
    this.#report({ type: "chat_digest", message: id, sender: this.#self, digest });
    const msg = { id, from: this.#self, text, at, digest, mine: true };
    this.#emit("chat", msg);
    return msg;
  }

  /**
   * Shares `file` (a File or Blob) under `name` with every attached peer (or
   * those of them listed in `to`). Throws ExchangeError "not_a_file", "too_large" (over the size limit) or
   * "no_peer". The file is hashed, reported `offered`, then sent to each
   * peer in turn after the shares before it (see OutgoingShare).
   */
  share(file, name = file?.name, { to } = {}) {
    if (!(file instanceof Blob)) throw new ExchangeError("not_a_file");
    if (file.size > this.#maxSize) throw new ExchangeError("too_large");
    const recipients = [...this.#peers.values()].filter((p) => !p.gone && (!to || to.includes(p.id)));
    if (!recipients.length) throw new ExchangeError("no_peer");
    const h = new OutgoingShare(this, file, sanitizeName(name), recipients.length);
    h.hashed = this.#hash(h);
    // Queued now, so that files go in the order they were shared, whichever
    // is hashed first.
    for (const p of recipients) {
      const t = { state: "queued", sent: 0, wake: null };
      h.targets.set(p.id, t);
      p.queue.push({ h, t });
      this.#pump(p);
    }
    return h;
  }

  // ------------------------------------------------------------ sending

  // Hashes the file and reports the offer; each recipient's turn waits for it.
  async #hash(h) {
    try {
      h.type = sniffType(new Uint8Array(await h.file.slice(0, 132).arrayBuffer()));
      h.digest = await sha256Blob(h.file);
    } catch {
      for (const t of h.targets.values()) t.state = "failed";
      h._state("failed", "unreadable");
      return;
    }
    if (h.state !== "hashing") return; // cancelled meanwhile: never offered
    if (![...h.targets.values()].some((t) => t.state === "queued")) return h._state("cancelled", "peer_left");
    h.offered = true;
    const offer = { type: "share", share: h.id, state: "offered", digest: h.digest, size: h.size, media_type: h.type, name: h.name };
    this.#report(offer);
    // The page may hold the file back until the offer is recorded (the
    // server's `share_recorded`): a share the trace refused is never sent.
    if (this.#hooks.beforeOffer) {
      h._state("offering");
      try {
        await this.#hooks.beforeOffer(offer);
      } catch (e) {
        if (h.state !== "offering") return; // cancelled meanwhile
        for (const t of h.targets.values()) if (t.state === "queued") t.state = "failed";
        h.refusal = e?.code ?? null;
        return h._state("failed", "refused");
      }
      if (h.state !== "offering") return; // cancelled meanwhile (and reported)
      if (![...h.targets.values()].some((t) => t.state === "queued")) {
        this.#reportCancelled(h.id);
        return h._state("cancelled", "peer_left");
      }
    }
    h._state("queued");
  }

  async #pump(p) {
    if (p.sending) return;
    while (p.queue.length && !p.gone) {
      const job = p.queue.shift();
      if (job.t.state !== "queued") continue;
      p.sending = job;
      try {
        await this.#send(p, job.h, job.t);
      } catch {
        if (job.t.state === "sending") job.t.state = "left";
      }
      p.sending = null;
      this.#settleOutgoing(job.h);
    }
  }

  async #send(p, h, t) {
    const ch = p.files;
    await h.hashed;
    if (ch.readyState === "connecting") await this.#until(ch, "open", t, "queued");
    if (t.state !== "queued") return;
    if (ch.readyState !== "open") {
      t.state = "left";
      return;
    }
    t.state = "sending";
    h._state("sending");
    const type = h.type ?? "application/octet-stream";
    ch.send(JSON.stringify({ t: "offer", id: h.id, name: h.name, size: h.size, type, digest: h.digest }));
    let index = 0;
    for (let off = 0; off < h.size; off += READ_BLOCK) {
      const block = new Uint8Array(await h.file.slice(off, Math.min(off + READ_BLOCK, h.size)).arrayBuffer());
      for (let o = 0; o < block.length; o += CHUNK_SIZE) {
        if (ch.bufferedAmount > HIGH_WATER) await this.#until(ch, "bufferedamountlow", t, "sending");
        if (t.state !== "sending") return; // cancelled by either side, or the peer left
        const chunk = block.subarray(o, o + CHUNK_SIZE);
        this.#hooks.chunk?.(h.id, index++, chunk);
        ch.send(chunk);
        t.sent += chunk.length;
      }
      h._progress();
    }
    ch.send(JSON.stringify({ t: "end", id: h.id }));
    t.state = "done";
    h._progress();
  }

  // Resolves on `event` on `ch`, on its close, or when `t` leaves `state`
  // (a cancel wakes it through `t.wake`).
  #until(ch, event, t, state) {
    return new Promise((resolve) => {
      const done = () => {
        ch.removeEventListener(event, done);
        ch.removeEventListener("close", done);
        t.wake = null;
        resolve();
      };
      if (t.state !== state) return resolve();
      ch.addEventListener(event, done);
      ch.addEventListener("close", done);
      t.wake = done;
    });
  }

  // Ends the share once no recipient is still waiting for it or receiving it.
  #settleOutgoing(h) {
    if (!["queued", "sending"].includes(h.state)) return;
    const states = [...h.targets.values()].map((t) => t.state);
    if (states.some((s) => s === "queued" || s === "sending")) return;
    if (states.includes("done")) return h._state("done");
    // Nobody got it: a recipient who refused it reported that; if they all
    // left, the sender says the share did not happen.
    if (!states.includes("cancelled")) this.#reportCancelled(h.id);
    h._state("cancelled", states.includes("cancelled") ? "peer" : "peer_left");
  }

  /** @internal OutgoingShare.cancel */
  _cancelOutgoing(h) {
    if (!["hashing", "offering", "queued", "sending"].includes(h.state)) return;
    for (const [peer, t] of h.targets) {
      if (t.state === "sending") {
        try {
          this.#peers.get(peer)?.files.send(JSON.stringify({ t: "cancel", id: h.id }));
        } catch {
          // the channel is closing: nothing more goes out anyway
        }
      }
      if (t.state === "sending" || t.state === "queued") {
        t.state = "cancelled";
        t.wake?.();
      }
    }
    if (h.offered) this.#reportCancelled(h.id);
    h._state("cancelled", "self");
  }

  // ---------------------------------------------------------- receiving

  #onChat(p, data) {
    const f = this.#parse(p, data);
    if (!f) return;
    const valid = f.t === "chat" && HEX32.test(f.id) && HEX32.test(f.salt) && typeof f.text === "string" && Number.isFinite(f.at);
    if (!valid) return this.#error(p, "malformed", f.id);
    if (chars(f.text) > CHAT_MAX_CHARS) return this.#error(p, "too_large", f.id);
    // In order of arrival, though digests resolve asynchronously.
    p.chatChain = p.chatChain.then(async () => {
      const digest = await chatDigest(f.salt, f.text);
      this.#report({ type: "chat_digest", message: f.id, sender: p.id, digest });
      this.#emit("chat", { id: f.id, from: p.id, text: f.text, at: f.at, digest, mine: false });
    });
  }

  #onFiles(p, data) {
    if (typeof data !== "string") return this.#chunk(p, data);
    const f = this.#parse(p, data);
    if (!f) return;
    if (!HEX32.test(f.id ?? "")) return this.#error(p, "malformed", null);
    if (f.t === "offer") return this.#incomingOffer(p, f);
    if (f.t === "end") return this.#incomingEnd(p, f.id);
    if (f.t === "cancel") return this.#cancelled(p, f.id);
    this.#error(p, "malformed", f.id);
  }

  #incomingOffer(p, f) {
    const valid = Number.isSafeInteger(f.size) && f.size >= 0 && HEX64.test(f.digest ?? "") && typeof f.name === "string";
    if (!valid) {
      this.#refuse(p, f.id);
      return this.#error(p, "malformed", f.id);
    }
    if (p.incoming) {
      // The sender queues its shares: a second offer mid-transfer breaks the protocol.
      const old = p.incoming;
      p.incoming = null;
      old._state("failed", "protocol");
      this.#error(p, "protocol", old.id);
    }
    if (f.size > this.#maxSize) {
      this.#refuse(p, f.id);
      return this.#error(p, "too_large", f.id);
    }
    const inc = new IncomingShare(this, p, f);
    p.incoming = inc;
    this.#emit("incoming", inc);
  }

  #chunk(p, buf) {
    const inc = p.incoming;
    if (!inc) return; // the rest of a transfer this end cancelled
    inc.received += buf.byteLength;
    if (inc.received > inc.size) {
      p.incoming = null;
      this.#refuse(p, inc.id);
      inc._state("failed", "protocol");
      return this.#error(p, "protocol", inc.id);
    }
    inc.parts.push(buf);
    inc.partBytes += buf.byteLength;
    if (inc.partBytes >= ROLL_BYTES) {
      inc.blobs.push(new Blob(inc.parts));
      inc.parts = [];
      inc.partBytes = 0;
    }
    inc._progress();
  }

  async #incomingEnd(p, id) {
    const inc = p.incoming;
    if (inc?.id !== id) return; // cancelled here before its end arrived
    p.incoming = null;
    inc._progress(true);
    inc._state("verifying");
    const all = new Blob([...inc.blobs, ...inc.parts]);
    const digest = await sha256Blob(all);
    const sniffed = sniffType(new Uint8Array(await all.slice(0, 132).arrayBuffer()));
    const ok = inc.received === inc.size && digest === inc.expected;
    // Reported either way: a digest that differs from the offer's makes the
    // server open `share_mismatch`.
    this.#report({ type: "share", share: id, state: "received", sender: p.id, digest });
    const type = sniffed ?? "application/octet-stream";
    const blob = ok ? new Blob([all], { type }) : null;
    inc._state(ok ? "done" : "failed", ok ? null : "digest");
    this.#emit("file", { id, from: p.id, name: inc.name, type, size: inc.received, blob, ok, digest, expected: inc.expected });
  }

  // The peer cancelled `id`: the share it sends us, or the one we send it.
  #cancelled(p, id) {
    if (p.incoming?.id === id) {
      const inc = p.incoming;
      p.incoming = null;
      inc._state("cancelled", "peer");
    }
    if (p.sending?.h.id === id && p.sending.t.state === "sending") {
      p.sending.t.state = "cancelled";
      p.sending.t.wake?.();
    }
  }

  /** @internal IncomingShare.cancel */
  _cancelIncoming(inc) {
    const p = inc.peer;
    if (inc.state !== "receiving" || p.incoming !== inc) return;
    p.incoming = null;
    this.#refuse(p, inc.id);
    inc._state("cancelled", "self");
  }

  // Tells the sender to stop `id`, and the server that this end cancelled it.
  #refuse(p, id) {
    try {
      p.files.send(JSON.stringify({ t: "cancel", id }));
    } catch {
      // the channel is closing: the sender stops anyway
    }
    this.#reportCancelled(id);
  }

  // ------------------------------------------------------------- common

  #lost(p, reason) {
    if (p.gone) return;
    p.gone = true;
    if (this.#peers.get(p.id) === p) this.#peers.delete(p.id);
    if (p.incoming) {
      const inc = p.incoming;
      p.incoming = null;
      inc._state("cancelled", reason);
    }
    const jobs = [...(p.sending ? [p.sending] : []), ...p.queue.splice(0)];
    for (const { h, t } of jobs) {
      if (t.state === "queued" || t.state === "sending") {
        t.state = "left";
        t.wake?.();
      }
      this.#settleOutgoing(h);
    }
    this.#emit("closed", { peer: p.id, reason });
  }

  #reportCancelled(id) {
    this.#report({ type: "share", share: id, state: "cancelled" });
  }

  #parse(p, data) {
    if (typeof data !== "string" || data.length > FRAME_MAX_CHARS) return this.#error(p, "malformed", null);
    try {
      const f = JSON.parse(data);
      if (f && typeof f === "object") return f;
    } catch {
      // falls through
    }
    return this.#error(p, "malformed", null);
  }

  #error(p, code, id) {
    this.#emit("error", { peer: p.id, code, id: HEX32.test(id ?? "") ? id : null });
    return null;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/**
 * An Exchange for participant `self`. `report(msg)` gets each WebSocket
 * message of DESIGN.md (`chat_digest`, `share` offered/received/cancelled);
 * `maxSize` lowers the 1 GiB limit; `hooks.chunk(id, index, bytes)` sees
 * (and tests may alter) each chunk before it is sent;
 * `hooks.beforeOffer(offerReport)`, called right after a share's `offered`
 * report, returns a promise the share waits for before anything is sent
 * (the page resolves it at the server's `share_recorded`, rejects it with
 * `{code}` at its refusal: the share then fails, reason "refused").
 */
export function createExchange(options) {
  return new Exchange(options);
}
