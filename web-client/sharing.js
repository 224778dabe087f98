// The call's exchanges beside audio and video: the chat, files shared peer
// to peer (exchange.js over the two data channels), received files opened
// in viewer.js, and, for professionals, sharing the screen. app.js owns the
// call and the socket; this module attaches exchange.js to its peer
// connections, sends the reports on the socket (as recorded messages: kept
// until the server handled them) and draws the exchange panel.
//
// Access is the server's: the act records a chat report, a share or a
// screen share only in the performance, from participants media is allowed
// for. A file is sent only once the server answered its offer
// `share_recorded` (exchange.js's `beforeOffer` hook), so a share the trace
// refused never leaves the page.
import { createExchange, ExchangeError } from "/exchange.js";
import { openViewer, viewerKind } from "/viewer.js";

export function createSharing({ state, record, $, t, makeOffer }) {
  const s = {
    ex: null,
    waits: new Map(), // share id -> { resolve, reject }: offers waiting for `share_recorded`
    chats: new Map(), // message id -> { id, from, text, at, mine, li, flag }
    transfers: new Map(), // share id -> row (outgoing or incoming)
    received: [], // rows of received files
    screen: null, // the screen's video track while this page shares it
    noteKeys: { chat: null, files: null, screen: null },
    objectUrls: [],
  };
  const fill = (key, vars = {}) => t(key).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "");

  // ------------------------------------------------------------ reports
  // Every report goes out as a recorded message. A refusal (budget spent,
  // wrong phase...) is told where it belongs, not in the actions note.
  function report(msg) {
    let onRefused = () => {};
    if (msg.type === "share" && msg.state === "offered") {
      onRefused = (code) => {
        const w = s.waits.get(msg.share);
        s.waits.delete(msg.share);
        w?.reject({ code });
      };
    } else if (msg.type === "chat_digest") {
      onRefused = () => flagChat(msg.message, "chat_not_recorded");
    } else if (msg.type === "screen_share") {
      onRefused = () => note("screen", "screen_not_recorded");
    }
    record(msg, null, { onRefused });
  }
  // Holds a share until the server recorded its offer (or refused it).
  function beforeOffer(offer) {
    return new Promise((resolve, reject) => s.waits.set(offer.share, { resolve, reject }));
  }

  // ------------------------------------------------------------ the exchange
  function start() {
    if (s.ex) return;
    s.ex = createExchange({ self: state.me.participant, report, hooks: { beforeOffer } });
    s.ex.addEventListener("chat", (e) => addChat(e.detail));
    s.ex.addEventListener("incoming", (e) => addTransfer(e.detail, "in"));
    s.ex.addEventListener("file", (e) => addFile(e.detail));
    s.ex.addEventListener("error", (e) => console.warn("exchange: a peer's frame was refused:", e.detail.code));
    // How many peers the chat and files reach now: support can read it, and
    // tests wait for it instead of guessing.
    const peers = () => ($("exchange").dataset.peers = String(s.ex.openPeers.length));
    s.ex.addEventListener("open", peers);
    s.ex.addEventListener("closed", peers);
  }
  function who(id) {
    const p = state.room?.participants.find((x) => x.id === id);
    if (!p) return String(id);
    return `${t("roles")[p.role] ?? p.role}${p.display_name ? ` — ${p.display_name}` : ""}`;
  }
  // The polite live region: what arrives from others, said once.
  function say(text) {
    $("exchange-live").textContent = text;
  }
  // A note under the chat, the files or the screen button, by key.
  function note(where, key) {
    s.noteKeys[where] = key;
    renderNotes();
  }
  function renderNotes() {
    for (const [where, id] of [["chat", "chat-note"], ["files", "files-note"], ["screen", "screen-note"]]) {
      const key = s.noteKeys[where];
      $(id).textContent = key ? t(key) : "";
      $(id).hidden = !key;
    }
  }

  // ------------------------------------------------------------------ chat
  function addChat(m) {
    const li = document.createElement("li");
    li.dataset.id = m.id;
    li.className = m.mine ? "chat-mine" : "chat-theirs";
    const c = { ...m, li, flag: null };
    s.chats.set(m.id, c);
    paintChat(c);
    const log = $("chat-log");
    log.append(li);
    log.scrollTop = log.scrollHeight;
    if (!m.mine) say(fill("chat_from", { who: who(m.from), text: m.text }));
  }
  function paintChat(c) {
    const head = document.createElement("span");
    head.className = "chat-head";
    const time = document.createElement("time");
    time.dateTime = new Date(c.at).toISOString();
    time.textContent = new Date(c.at).toLocaleTimeString(state.lang, { hour: "2-digit", minute: "2-digit" });
    head.append(`${c.mine ? t("chat_you") : who(c.from)} · `, time);
    const text = document.createElement("span");
    text.className = "chat-text";
    text.textContent = c.text;
    c.li.replaceChildren(head, text);
    if (c.flag) {
      const flag = document.createElement("span");
      flag.className = "chat-flag";
      flag.textContent = t(c.flag);
      c.li.append(flag);
    }
  }
  function flagChat(id, key) {
    const c = s.chats.get(id);
    if (!c) return;
    c.flag = key;
    paintChat(c);
  }
  $("chat-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("chat-input");
    if (!s.ex) return note("chat", "chat_no_peer");
    try {
      await s.ex.sendChat(input.value);
      input.value = "";
      note("chat", null);
    } catch (err) {
      note("chat", err instanceof ExchangeError ? `chat_${err.code}` : "chat_no_peer");
    }
  });

  // ----------------------------------------------------------------- files
  $("share-file-button").addEventListener("click", () => $("share-file").click());
  $("share-file").addEventListener("change", () => {
    const files = [...$("share-file").files];
    $("share-file").value = "";
    for (const file of files) {
      try {
        if (!s.ex) throw new ExchangeError("no_peer");
        addTransfer(s.ex.share(file, file.name), "out");
        note("files", null);
      } catch (err) {
        note("files", err instanceof ExchangeError ? `share_${err.code}` : "share_no_peer");
      }
    }
  });
  // One transfer, either way: its name, a progress bar, its state, and a
  // button to cancel it while it runs.
  function addTransfer(h, dir) {
    const li = document.createElement("li");
    li.className = "transfer";
    li.dataset.id = h.id;
    li.dataset.dir = dir;
    const label = document.createElement("span");
    const progress = document.createElement("progress");
    progress.max = 1;
    progress.value = 0;
    const status = document.createElement("span");
    status.className = "transfer-state";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.addEventListener("click", () => h.cancel());
    li.append(label, progress, status, cancel);
    const row = { h, dir, li, label, progress, status, cancel, flag: null };
    s.transfers.set(h.id, row);
    paintTransfer(row);
    $("transfers").append(li);
    h.addEventListener("progress", (e) => {
      progress.value = e.detail.fraction;
      li.dataset.fraction = String(e.detail.fraction);
    });
    h.addEventListener("statechange", () => paintTransfer(row));
    if (dir === "in") say(fill("file_incoming", { who: who(h.from), name: h.name }));
  }
  function paintTransfer(row) {
    const { h, dir } = row;
    const name = h.name;
    const what = fill(dir === "out" ? "transfer_out" : "transfer_in", { name });
    row.label.textContent = what;
    row.progress.setAttribute("aria-label", what);
    let state = t("transfer_states")[h.state] ?? h.state;
    if (h.state === "failed" && h.reason === "refused") {
      state = `${t("transfer_refused")} ${t("refusal_reasons")[h.refusal] ?? t("refusal_reasons").refused}`;
    } else if (h.state === "failed" && dir === "in" && h.reason === "digest") {
      state = t("transfer_states").corrupt;
    }
    row.status.textContent = row.flag ? `${state} — ${t(row.flag)}` : state;
    row.li.dataset.state = h.state;
    row.cancel.textContent = t("transfer_cancel");
    row.cancel.setAttribute("aria-label", fill("transfer_cancel_label", { what }));
    const running = ["hashing", "offering", "queued", "sending", "receiving"].includes(h.state);
    if (!running && !row.cancel.hidden) {
      // The button goes with the transfer; the focus it had goes to the
      // share button, not to the page's body.
      const focused = document.activeElement === row.cancel;
      row.cancel.hidden = true;
      if (focused) $("share-file-button").focus();
    }
    if (h.state === "done" && dir === "out") row.progress.value = 1;
  }
  // A file received whole: images and PDFs open in the viewer, anything
  // else is downloaded; one whose digest differs is an error, never opened.
  function addFile(f) {
    const li = document.createElement("li");
    li.dataset.id = f.id;
    li.dataset.sha256 = f.digest;
    li.dataset.ok = String(f.ok);
    const row = { f, li, url: f.blob ? URL.createObjectURL(f.blob) : null };
    if (row.url) s.objectUrls.push(row.url);
    s.received.push(row);
    paintFile(row);
    $("received").append(li);
    $("received-none").hidden = true;
    say(fill(f.ok ? "file_arrived" : "file_corrupt", { who: who(f.from), name: f.name }));
  }
  function paintFile(row) {
    const { f, li } = row;
    li.replaceChildren();
    li.className = f.ok ? "received-file" : "received-file alert";
    if (!f.ok) {
      li.textContent = fill("file_corrupt", { who: who(f.from), name: f.name });
      return;
    }
    const vars = { name: f.name, size: formatSize(f.size, state.lang) };
    if (viewerKind(f.type) === "download") {
      const a = document.createElement("a");
      a.href = row.url;
      a.download = f.name;
      a.className = "button secondary-link";
      a.textContent = fill("file_download", vars);
      li.append(a);
    } else {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = fill("file_open", vars);
      b.addEventListener("click", () => openViewer(f.blob, { type: f.type, name: f.name, lang: state.lang }));
      li.append(b);
    }
    const meta = document.createElement("span");
    meta.className = "file-meta";
    meta.textContent = ` ${fill("file_meta", { who: who(f.from), size: vars.size, sha: f.digest.slice(0, 16) })}`;
    li.append(meta);
  }

  // ---------------------------------------------------------------- screen
  // The screen replaces the camera on each peer connection's video sender
  // (replaceTrack: no renegotiation, the call goes on), so the other side
  // sees it in place of the face; the camera comes back when it stops,
  // from the button or the browser's own « Arrêter le partage ».
  $("screen-share").addEventListener("click", () => (s.screen ? stopScreen(true) : startScreen()));
  async function startScreen() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch {
      return note("screen", "screen_failed");
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return note("screen", "screen_failed");
    s.screen = track;
    note("screen", null);
    track.addEventListener("ended", () => stopScreen(true));
    for (const [id, peer] of state.peers) useVideo(id, peer, track);
    $("local").srcObject = new MediaStream([track, ...(state.stream?.getAudioTracks() ?? [])]);
    report({ type: "screen_share", active: true });
    renderScreen();
  }
  // Stops sharing; `tell`: report it (not when the server stopped it).
  function stopScreen(tell) {
    const track = s.screen;
    if (!track) return;
    s.screen = null;
    track.stop();
    const camera = state.stream?.getVideoTracks()[0] ?? null;
    for (const [id, peer] of state.peers) useVideo(id, peer, camera);
    if (state.stream) $("local").srcObject = state.stream;
    if (tell) report({ type: "screen_share", active: false });
    renderScreen();
  }
  function useVideo(id, peer, track) {
    const sender = peer.pc.getSenders().find((x) => x.track?.kind === "video" || peer.screenSender === x);
    if (sender) {
      sender.replaceTrack(track).catch(() => note("screen", "screen_failed"));
      return;
    }
    if (!track) return;
    // No camera to replace: the screen is a new track, negotiated afresh.
    peer.screenSender = peer.pc.addTrack(track, state.stream ?? new MediaStream([track]));
    makeOffer(id, peer);
  }
  function renderScreen() {
    const b = $("screen-share");
    const pro = state.me && !["patient", "companion"].includes(state.me.role);
    b.hidden = !pro;
    b.textContent = t(s.screen ? "screen_stop" : "screen_share");
    b.setAttribute("aria-pressed", String(!!s.screen));
  }

  return {
    /** The page knows who it is: the exchange starts (once); back after a
     * lost connection, a screen still shared is said again (the server
     * stopped it when the connection was lost). */
    welcomed() {
      start();
      if (s.screen) report({ type: "screen_share", active: true });
      renderScreen();
    },
    /** Handles the server's exchange messages; false for others. */
    onMessage(m) {
      if (m.type === "share_recorded") {
        const w = s.waits.get(m.share);
        s.waits.delete(m.share);
        w?.resolve();
        return true;
      }
      if (m.type === "exchange_mismatch") {
        if (m.kind === "chat") flagChat(m.id, "chat_mismatch");
        const row = s.transfers.get(m.id);
        if (m.kind === "share" && row) {
          row.flag = "share_mismatch";
          paintTransfer(row);
          say(fill("share_mismatch_said", { name: row.h.name }));
        }
        return true;
      }
      return false;
    },
    /** Before the offer or answer of a new peer connection. */
    attach(pc, id) {
      start();
      s.ex.attach(pc, id);
    },
    /** Before a peer connection is closed. */
    detach(id) {
      s.ex?.detach(id);
    },
    /** The video track a new peer connection sends: the screen while shared. */
    videoTrack(camera) {
      return s.screen ?? camera;
    },
    /** Media stopped or the act ended: the screen is no longer shared. */
    stop() {
      stopScreen(false);
    },
    /** Redraws every text in the page's language. */
    render() {
      renderScreen();
      renderNotes();
      for (const c of s.chats.values()) paintChat(c);
      for (const row of s.transfers.values()) paintTransfer(row);
      for (const row of s.received) paintFile(row);
    },
  };
}

function formatSize(bytes, lang) {
  const [unit, div] = bytes >= 1e6 ? ["megabyte", 1e6] : bytes >= 1e3 ? ["kilobyte", 1e3] : ["byte", 1];
  return new Intl.NumberFormat(lang, { style: "unit", unit, maximumFractionDigits: 1 }).format(bytes / div);
}
