// The join page: one script for every role. It checks the invitation,
// checks the devices, collects consent, waits for admission, runs the call
// (one RTCPeerConnection per other participant) and, for professionals,
// shows the act panel. The server enforces every rule; this page only asks.
import { STRINGS, errorText } from "/i18n.js";
import { runConnectionTest } from "/precall.js";
import { createQuality } from "/quality.js";
import { createSharing } from "/sharing.js";

const $ = (id) => document.getElementById(id);
// Support and tests can force the relay: `?relay=udp|tcp|tls` keeps only
// that kind of TURN URL and sets iceTransportPolicy to "relay".
const forceRelay = new URLSearchParams(location.search).get("relay");
const state = {
  lang: "fr",
  kind: null, // the act's kind, from the invitation then the welcome: "teleexpertise" words its titles
  token: location.hash.slice(1),
  ws: null,
  me: null, // { participant, role, act, consent_texts }
  room: null, // last RoomView
  iceServers: null, // set while media is allowed
  peers: new Map(), // participant id -> { pc, pending: [], reported }
  stream: null,
  ended: false,
  retries: 0,
  retryTimer: null, // the pending reconnection, cancelled when the browser is online again
  ready: null, // the socket welcomed and given its first state: the link is up
  outbox: [], // messages that record something, kept until the server handled them
  failed: null, // the last recorded message the server refused: { type, code }, told to the user
  joinAgainAt: 0, // when the join budget lets this page join again (performance.now() ms)
  banner: null, // what the banner says: { key, s } | null
  nettest: null, // the connection test: { running } | { paths, verdict } | { error }
  screen: "loading", // the screen shown
  focused: null, // the last screen whose heading took the focus
  error: null, // why the page cannot join: { key } | { code, status } | { join }
  endKey: null, // the key of the ended screen's sentence
  announced: new Set(), // what the live region said already (said once each)
  qualityKey: null, // the quality line's key, written only when it changes
  qualitySeen: null, // the latest reading, shown once seen twice in a row
};
// The page's words. A téléexpertise's page says a few of them its own way
// (« Téléexpertise en cours »…: `STRINGS[lang].teleexpertise`); the rest,
// and a téléconsultation's page, use the common ones.
const t = (key) => (state.kind === "teleexpertise" ? STRINGS[state.lang].teleexpertise[key] : undefined) ?? STRINGS[state.lang][key] ?? key;
// Learns the act's kind; the texts that depend on it follow at once.
function setKind(kind) {
  if (!kind || kind === state.kind) return;
  state.kind = kind;
  translate();
}

// ---------------------------------------------------------------- screens
const SCREENS = ["loading", "error", "devices", "consent", "waiting", "call", "ended"];
const SCREEN_TITLES = {
  loading: "loading", error: "error_title", devices: "devices_title", consent: "consent_title",
  waiting: "waiting_title", call: "call_title", ended: "ended_title",
};
// Shows a screen. A new screen takes the focus to its heading, so a screen
// reader says where one is and the next Tab starts from there; showing the
// same screen again (each new room state) leaves the focus alone. `focus:
// false` is for the moment between « Continuer » and the room's first state,
// which picks the real screen: one move, not two.
function show(name, { focus = true } = {}) {
  for (const s of SCREENS) $(`screen-${s}`).hidden = s !== name;
  state.screen = name;
  renderTitle();
  if (!focus || state.focused === name) return;
  state.focused = name;
  $(`screen-${name}`).querySelector("h1")?.focus();
}
function renderTitle() {
  document.title = `${t(SCREEN_TITLES[state.screen])} — ${t("title")}`;
}
// Says `text` once in the polite live region; `key` names the event, so a
// new room state or a language switch does not say it again.
function announce(key, text) {
  if (state.announced.has(key)) return;
  state.announced.add(key);
  $("announcer").textContent = text;
}
function fail(error) {
  state.error = error;
  renderError();
  show("error");
}
function renderError() {
  const e = state.error;
  if (e) $("error-text").textContent = e.key ? t(e.key) : errorText(state.lang, e);
}
// The banner says the sentence `key` (with `{s}` filled), or nothing; it
// follows a language switch.
function banner(key, s) {
  state.banner = key ? { key, s } : null;
  renderBanner();
}
function renderBanner() {
  const b = state.banner;
  $("banner").textContent = b ? t(b.key).replace("{s}", String(b.s)) : "";
  $("banner").hidden = !b;
}
function translate() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  $("lang").textContent = t("switch_to");
  $("lang").setAttribute("aria-label", t("switch_label"));
  $("lang").lang = state.lang === "fr" ? "en" : "fr"; // it speaks the other language
  renderTitle();
  renderBanner();
  renderError();
  renderEnded();
  renderQuality();
  for (const v of $("remotes").querySelectorAll("video")) v.setAttribute("aria-label", remoteLabel(Number(v.id.slice("remote-".length))));
  renderConsent();
  renderPanel();
  renderNettest();
  renderLink();
  sharing.render();
}
$("lang").addEventListener("click", () => {
  state.lang = state.lang === "fr" ? "en" : "fr";
  translate();
});

// ------------------------------------------------------------- invitation
async function checkInvitation() {
  if (!state.token) return fail({ key: "link_incomplete" });
  const res = await fetch("/api/invitations/check", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: state.token }),
  }).catch(() => null);
  if (!res) return fail({ key: "server_unreachable" });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) return fail({ code: body.code, status: res.status });
  setKind(body.kind);
  return body;
}

// ---------------------------------------------------------------- devices
async function deviceCheck() {
  show("devices");
  const continued = new Promise((resolve) => $("devices-ok").addEventListener("click", resolve, { once: true }));
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    $("preview").srcObject = state.stream;
    meter(state.stream);
  } catch (e) {
    $("devices-error").dataset.i18n = "no_devices"; // kept across a language switch
    $("devices-error").textContent = t("no_devices");
  }
  // After the camera question: Chromium shows real host addresses to pages
  // that have it, so the direct path can be tried.
  connectionTest();
  await continued;
}

// --------------------------------------------------------- connection test
async function connectionTest() {
  $("nettest").hidden = false;
  $("nettest-retry").hidden = true;
  $("nettest-rows").replaceChildren();
  state.nettest = { running: true };
  renderNettest();
  try {
    const result = await runConnectionTest(state.token, (row) => addNettestRow(row));
    if (!result) {
      $("nettest").hidden = true; // this server runs no test
      return;
    }
    state.nettest = result;
  } catch (e) {
    state.nettest = { error: true };
  }
  renderNettest();
  $("nettest-retry").hidden = false;
}
$("nettest-retry").addEventListener("click", connectionTest);
function addNettestRow(r) {
  const tr = document.createElement("tr");
  tr.dataset.path = r.path;
  tr.dataset.status = r.status;
  const cells = [
    t("nettest_paths")[r.path] ?? r.path,
    t("nettest_statuses")[r.status] ?? r.status,
    r.rtt_ms !== undefined ? `${r.rtt_ms} ms` : "—",
    r.upload_kbps !== undefined ? `${r.upload_kbps} kbit/s` : "—",
    r.connect_ms !== undefined ? `${r.connect_ms} ms` : "—",
  ];
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c;
    tr.append(td);
  }
  $("nettest-rows").append(tr);
}
function renderNettest() {
  const n = state.nettest;
  if (!n) return;
  const summary = $("nettest-summary");
  summary.className = n.verdict ?? "";
  summary.dataset.verdict = n.verdict ?? (n.running ? "running" : "error");
  summary.textContent = n.running
    ? t("nettest_running")
    : n.verdict
      ? t(`nettest_${n.verdict}`)
      : t("nettest_error");
  if (n.paths) {
    $("nettest-rows").replaceChildren();
    for (const r of n.paths) addNettestRow(r);
  }
}
function meter(stream) {
  if (!stream.getAudioTracks().length) return;
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  ctx.createMediaStreamSource(stream).connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  const tick = () => {
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128) / 128);
    $("level").value = peak;
    if (!$("screen-devices").hidden) requestAnimationFrame(tick);
  };
  tick();
}

// -------------------------------------------------------------- signaling
// Counts the pings sent on a socket, so a pong tells which frames the
// server has handled (it answers in order, after their events are durable).
function sendOn(ws, msg) {
  ws.send(JSON.stringify(msg));
  if (msg.type === "ping") ws.pings = (ws.pings ?? 0) + 1;
}
// For frames that may be lost with the connection (signal, stats, ping...).
function send(msg) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) sendOn(state.ws, msg);
}
// Whether this page can talk to the server now: a socket open, welcomed,
// and its first state received.
function linkUp() {
  return !!state.ws && state.ws.readyState === WebSocket.OPEN && state.ready === state.ws;
}

// ------------------------------------------------- messages that record
// A message that records something (consent, withdrawal, call-back number,
// mode, conclusion) is never dropped: it waits in the outbox until the
// server has handled it, which the page learns from the answer to a ping
// sent right after it on the same socket. A frame sent on a socket that
// died before that answer, or pressed while the link is down, is sent once
// the link is back, unless the room's new state shows it in force already
// (`inForce`), so a consent that did arrive is not given twice.
// The server answers a socket's frames in order, so each entry goes
// between two pings: an `error` that arrives after the first one's pong
// and before the second's answers that entry. Such an entry was refused
// (budget spent, rate limit, outdated consent text...): it is not resent,
// and the page says it was not recorded (`state.failed`).
// An entry with its own `onRefused(code)` (the exchange's reports) says its
// refusal itself, where it belongs, instead of in the actions note.
function record(msg, inForce, { onRefused } = {}) {
  if (!onRefused && state.failed?.type === msg.type) state.failed = null;
  state.outbox.push({ msg, inForce, ws: null, ack: 0, onRefused });
  flush();
  renderLink();
}
function flush() {
  if (!linkUp()) return;
  const ws = state.ws;
  state.outbox = state.outbox.filter((e) => e.ws || !(e.inForce && state.room && e.inForce(state.room)));
  for (const e of state.outbox) {
    if (e.ws) continue;
    sendOn(ws, { type: "ping" });
    sendOn(ws, e.msg);
    sendOn(ws, { type: "ping" });
    e.ws = ws;
    e.ack = ws.pings;
  }
}
function onPong(ws) {
  ws.pongs = (ws.pongs ?? 0) + 1;
  const before = state.outbox.length;
  state.outbox = state.outbox.filter((e) => !(e.ws === ws && e.ack <= ws.pongs));
  if (state.outbox.length !== before) renderLink();
}
// An `error` on `ws`: if it answers a recorded message (see `record`),
// that message failed for good.
function onRefused(ws, m) {
  const answered = (ws.pongs ?? 0) + 1;
  const e = state.outbox.find((x) => x.ws === ws && x.ack === answered);
  if (!e) return false;
  state.outbox = state.outbox.filter((x) => x !== e);
  if (e.onRefused) {
    e.onRefused(m.code);
    renderLink();
    return true;
  }
  state.failed = { type: e.msg.type, code: m.code };
  renderLink();
  return true;
}
// Why a recorded message was refused, in the page's language.
function failedText() {
  const f = state.failed;
  if (!f) return "";
  const what = t(f.type === "consent" ? "consent_not_recorded" : "action_not_recorded");
  const why = t("refusal_reasons")[f.code] ?? t("refusal_reasons").refused;
  return `${what} ${why}`;
}
// The socket is given up: what it carried unanswered goes again later.
function requeue(ws) {
  for (const e of state.outbox) if (e.ws === ws) e.ws = null;
}
const pending = (type) => state.outbox.some((e) => e.msg.type === type);
// While the link is down the buttons that record something wait, and say
// why; a press the page took before it noticed the cut says it is kept.
function renderLink() {
  const up = linkUp();
  const consent = pending("consent");
  $("consent-accept").disabled = !up || consent;
  $("consent-refuse").disabled = !up || consent;
  $("consent-accept").setAttribute("aria-busy", String(consent));
  const consentFailed = !consent && state.failed?.type === "consent";
  $("consent-wait").textContent = consent
    ? t(up ? "consent_sending" : "consent_kept")
    : consentFailed ? failedText() : up ? "" : t("link_down_wait");
  $("consent-wait").hidden = !$("consent-wait").textContent;
  $("consent-wait").dataset.state = consent ? (up ? "sending" : "kept") : consentFailed ? "failed" : up ? "" : "down";
  $("withdraw").disabled = !up || pending("withdraw_consent");
  $("attest").disabled = !up || pending("attest_consent");
  $("conclude-submit").disabled = !up || pending("conclude");
  // How many recorded messages the server has not confirmed yet: support
  // can read it, and tests wait for 0 instead of guessing.
  document.body.dataset.unconfirmed = String(state.outbox.length);
  // The consent screen says it itself; other kept actions say it here.
  const others = state.outbox.some((e) => e.msg.type !== "consent" && !e.onRefused);
  const otherFailed = state.failed && state.failed.type !== "consent";
  $("outbox-note").textContent = !up && others ? t("actions_kept") : otherFailed ? failedText() : "";
  $("outbox-note").hidden = !$("outbox-note").textContent;
  $("outbox-note").dataset.state = !up && others ? "kept" : otherFailed ? "failed" : "";
}

// A cut network sends no close: the page pings every HEARTBEAT_MS and
// takes a silence of DEAD_MS as a lost connection, like the server does.
const HEARTBEAT_MS = 2000;
const DEAD_MS = 6000;
function connect() {
  clearTimeout(state.retryTimer);
  state.retryTimer = null;
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  state.ws = ws;
  state.lastHeard = performance.now();
  ws.onopen = () => send({ type: "hello", v: 1, token: state.token, user_agent: navigator.userAgent });
  ws.onmessage = (e) => {
    state.lastHeard = performance.now();
    onMessage(JSON.parse(e.data));
  };
  ws.onclose = (e) => {
    if (state.ws !== ws) return; // already given up on
    requeue(ws);
    renderLink();
    if (state.ended || e.code === 4003 || e.code === 1000) return;
    if (e.code === 4006 || e.code === 4002) return; // violation, or replaced by a newer tab
    if (e.code === 4009) return end("joins_spent"); // this link may not join again
    if (e.code === 4008) return joinLater(e.reason);
    // Ownership unavailable (Redis down, the act's node lost and its lease
    // not yet expired): wait as told, showing a reconnection.
    if (e.code === 4011) return joinLater(e.reason, "reconnecting");
    // 4010 act_elsewhere (another node runs the act): reconnect, below.
    if (e.code === 4004) closePeers(); // consent withdrawn: media stops for good
    reconnect();
  };
}
// Peer connections are kept: media may still flow, and once signaling is
// back an ICE restart repairs them (see `repairPeers`).
function reconnect() {
  const old = state.ws;
  state.ws = null;
  if (old) {
    old.onclose = null;
    old.onmessage = null;
    old.close();
    requeue(old);
  }
  state.lostAt ??= performance.now();
  banner("reconnecting");
  renderLink();
  clearTimeout(state.retryTimer);
  const delay = Math.min(8000, 500 * 2 ** state.retries++);
  state.retryTimer = setTimeout(connect, delay);
}
// Joined too often this minute (close 4008, reason `retry_after:SECONDS`):
// wait as told, saying so, then join again.
function joinLater(reason, message = "join_later") {
  const secs = Math.min(120, Math.max(1, Number(/^retry_after:(\d+)$/.exec(reason ?? "")?.[1] ?? 60)));
  state.ws = null;
  state.lostAt ??= performance.now();
  state.joinAgainAt = performance.now() + secs * 1000;
  banner(message, secs);
  renderLink();
  clearTimeout(state.retryTimer);
  state.retryTimer = setTimeout(connect, secs * 1000);
}
setInterval(() => {
  if (!state.ws || state.ended) return;
  if (state.ws.readyState === WebSocket.OPEN) send({ type: "ping" });
  if (performance.now() - state.lastHeard > DEAD_MS) reconnect();
}, HEARTBEAT_MS);
// The browser knows before the heartbeat does: offline gives the socket up
// at once, online reconnects at once instead of waiting out the back-off.
addEventListener("offline", () => {
  if (state.ws && !state.ended) reconnect();
});
addEventListener("online", () => {
  if (state.ended || !state.me || linkUp()) return;
  if (performance.now() < state.joinAgainAt) return; // the join budget's wait is not over
  const old = state.ws;
  if (old) {
    // A connection attempt made while offline: start afresh.
    state.ws = null;
    old.onclose = null;
    old.onmessage = null;
    old.close();
  }
  state.retries = 0;
  connect();
});
function onMessage(m) {
  if (quality.onMessage(m) || sharing.onMessage(m)) return;
  switch (m.type) {
    case "welcome":
      state.me = m;
      setKind(m.act?.kind);
      state.retries = 0;
      state.lostAt = null;
      state.welcomedOn = state.ws;
      banner("");
      renderConsent();
      quality.welcomed();
      sharing.welcomed();
      break;
    case "state":
      state.room = m;
      if (state.welcomedOn === state.ws) state.ready = state.ws;
      flush();
      renderLink();
      route();
      renderPanel();
      syncPeers();
      repairPeers();
      break;
    case "ice_servers":
      state.iceServers = m.servers;
      // Fresh relay credentials for the peers kept across a reconnect.
      for (const peer of state.peers.values()) peer.pc.setConfiguration(iceConfig());
      syncPeers();
      repairPeers();
      break;
    case "signal":
      onSignal(m.from, m.data);
      break;
    case "stop_media":
      state.iceServers = null;
      sharing.stop();
      closePeers();
      banner("media_stopped");
      break;
    case "pong":
      if (state.ws) onPong(state.ws);
      break;
    case "ended":
      end("ended_text");
      break;
    case "error":
      if (state.ws && onRefused(state.ws, m)) break;
      console.warn("server refused:", m.code, m.message);
      if (m.code === "forbidden" && !state.me) fail({ join: m.code });
      break;
  }
}

// Which screen the participant is on follows the room's state.
function route() {
  if (state.ended || !state.me || !state.room) return;
  const role = state.me.role;
  const patientSide = role === "patient" || role === "companion";
  const pro = !patientSide;
  $("panel").hidden = !pro;
  $("withdraw").hidden = !patientSide;
  if (patientSide && !state.room.consent_given && !state.refused) return show("consent");
  if (state.refused) return;
  if (state.room.media_allowed || pro) {
    if (patientSide && state.screen !== "call") announce("admitted", t("announce_admitted"));
    return show("call");
  }
  show("waiting");
}

// ---------------------------------------------------------------- consent
function consentText() {
  const texts = state.me?.consent_texts ?? [];
  return texts.find((x) => x.language === state.lang) ?? texts[0];
}
function renderConsent() {
  const text = consentText();
  $("consent-text").textContent = text ? text.text : "";
  $("consent-text").lang = text ? text.language : state.lang;
}
$("consent-accept").addEventListener("click", () => {
  if (pending("consent")) return;
  const text = consentText();
  record({ type: "consent", accept: true, language: text.language, text_sha256: text.sha256 }, (room) => room.consent_given);
});
$("consent-refuse").addEventListener("click", () => {
  const text = consentText();
  state.refused = true;
  send({ type: "consent", accept: false, language: text.language, text_sha256: text.sha256 });
  end("refused_text");
});
$("withdraw").addEventListener("click", () => {
  if (!pending("withdraw_consent")) record({ type: "withdraw_consent" }, (room) => !room.consent_given);
});
$("attest").addEventListener("click", () => {
  const text = state.me.consent_texts[0];
  if (!pending("attest_consent")) record({ type: "attest_consent", text_sha256: text.sha256 }, (room) => room.consent_given);
});

// ------------------------------------------------------------------ panel
function renderPanel() {
  if (!state.room || !state.me || $("panel").hidden) return;
  $("act-kind").textContent = t("kinds")[state.me.act.kind] ?? state.me.act.kind;
  $("act-phase").textContent = t("phases")[state.room.phase] ?? state.room.phase;
  $("consent-status").textContent = state.room.consent_given ? t("given") : t("not_given");
  $("interrupted").hidden = !state.room.interrupted;
  $("attest").hidden = !(state.me.role === "requester" && !state.me.act.patient_present && !state.room.consent_given);
  const list = $("participants");
  // The list is drawn anew on each state: a button that had the focus gets
  // it back (by its `data-key`), or, gone (an admitted participant), the
  // list's heading takes it, instead of the page body.
  const hadFocus = list.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  list.replaceChildren();
  for (const p of state.room.participants) {
    const li = document.createElement("li");
    const who = `${t("roles")[p.role] ?? p.role}${p.display_name ? ` — ${p.display_name}` : ""}`;
    // The patient of a téléexpertise held without them never joins: they
    // do not take part, and there is no one to call by phone.
    const away = p.role === "patient" && !state.me.act.patient_present && !p.connected && !p.reconnecting;
    const status = away ? t("not_taking_part") : p.reconnecting ? t("reconnecting_status") : p.connected ? (p.admitted ? t("connected") : t("waiting")) : t("absent");
    const network = p.connection ? ` · ${t("network")} : ${t("verdicts")[p.connection] ?? p.connection}` : "";
    const screen = p.screen_sharing ? ` · ${t("screen_shared")}` : "";
    li.textContent = `${who} (${status})${network}${screen}`;
    if (p.connection) li.dataset.connection = p.connection;
    if (away) li.dataset.away = "true";
    if ((p.role === "patient" || p.role === "companion") && !away) li.append(quality.phoneButton(p.id));
    if (p.admitted && state.announced.has(`admit-${p.id}`)) announce(`entered-${p.id}`, t("announce_entered").replace("{who}", who));
    if (p.connected && !p.admitted) {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.key = `admit-${p.id}`;
      b.textContent = t("admit");
      b.setAttribute("aria-label", `${t("admit")} : ${who}`);
      b.addEventListener("click", () => {
        state.announced.add(`admit-${p.id}`); // their entry is said once it is done
        send({ type: "admit", participant: p.id });
      });
      li.append(b);
    }
    list.append(li);
  }
  if (hadFocus) (list.querySelector(`[data-key="${hadFocus}"]`) ?? $("participants-title")).focus();
}
$("conclude").addEventListener("submit", (e) => {
  e.preventDefault();
  const prescriptions = $("prescriptions").value.split("\n").map((s) => s.trim()).filter(Boolean)
    .map((text) => ({ kind: "medication", text }));
  if (!pending("conclude")) record({ type: "conclude", report: $("report").value, prescriptions });
});
$("cancel-act").addEventListener("click", () => send({ type: "cancel", reason: "by_professional" }));

// ------------------------------------------------------------------- call
$("mute").addEventListener("click", () => toggle("audio", "mute", "unmute", "mute"));
$("camera").addEventListener("click", () => toggle("video", "camera", "camera_on", "camera_off"));
function toggle(kind, id, offLabel, onLabel) {
  const tracks = state.stream?.getTracks().filter((x) => x.kind === kind) ?? [];
  const enabled = !(tracks[0]?.enabled ?? true);
  for (const track of tracks) track.enabled = enabled;
  $(id).setAttribute("aria-pressed", String(!enabled));
  $(id).dataset.i18n = enabled ? onLabel : offLabel; // the label a language switch shows
  $(id).textContent = t($(id).dataset.i18n);
}
$("leave").addEventListener("click", () => {
  send({ type: "leave" });
  end("ended_text");
});

// Media may flow with someone who is connected, admitted (or a
// professional) while the act is in performance with consent.
function mediaPeers() {
  const r = state.room;
  if (!r || !state.iceServers || r.phase !== "performance" || !r.consent_given) return [];
  // A participant who is reconnecting keeps their peer connection.
  return r.participants.filter((p) => p.id !== state.me.participant && (p.connected || p.reconnecting) && p.admitted);
}
// Restarts ICE on the peers whose connection broke, once signaling works.
// The participant with the smaller number offers, as for the first offer.
function repairPeers() {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN || !state.room) return;
  for (const [id, peer] of state.peers) {
    const other = state.room.participants.find((p) => p.id === id);
    const broken = ["disconnected", "failed"].includes(peer.pc.iceConnectionState);
    if (!broken || !other?.connected || state.me.participant > id) continue;
    if (peer.restarting && performance.now() - peer.restarting < 5000) continue;
    peer.restarting = performance.now();
    peer.pc.restartIce();
    makeOffer(id, peer);
  }
}
function syncPeers() {
  const wanted = new Set(mediaPeers().map((p) => p.id));
  for (const [id, peer] of state.peers) {
    if (!wanted.has(id)) {
      sharing.detach(id);
      peer.pc.close();
      document.getElementById(`remote-${id}`)?.remove();
      state.peers.delete(id);
    }
  }
  for (const id of wanted) {
    if (state.peers.has(id)) continue;
    const peer = newPeer(id);
    // The participant with the smaller number makes the offer.
    if (state.me.participant < id) makeOffer(id, peer);
  }
  if (state.peers.size && $("local").srcObject !== state.stream) $("local").srcObject = state.stream;
}
function iceConfig() {
  let servers = state.iceServers || [];
  if (!forceRelay) return { iceServers: servers };
  const keep = (url) =>
    forceRelay === "tls" ? url.startsWith("turns:") :
    url.startsWith("turn:") && url.endsWith(`transport=${forceRelay}`);
  servers = servers.map((s) => ({ ...s, urls: s.urls.filter(keep) })).filter((s) => s.urls.length);
  return { iceServers: servers, iceTransportPolicy: "relay" };
}
function newPeer(id) {
  const pc = new RTCPeerConnection(iceConfig());
  const peer = { pc, pending: [], reported: false };
  state.peers.set(id, peer);
  // The chat and files channels, negotiated: before any offer or answer.
  sharing.attach(pc, id);
  for (const track of state.stream?.getTracks() ?? []) {
    pc.addTrack(track.kind === "video" ? sharing.videoTrack(track) : track, state.stream);
  }
  pc.onicecandidate = (e) => {
    if (e.candidate) {
      send({ type: "signal", to: id, data: { kind: "candidate", candidate: e.candidate.candidate, sdp_mid: e.candidate.sdpMid, sdp_m_line_index: e.candidate.sdpMLineIndex } });
    }
  };
  pc.ontrack = (e) => {
    let video = document.getElementById(`remote-${id}`);
    if (!video) {
      video = document.createElement("video");
      video.id = `remote-${id}`;
      video.autoplay = true;
      video.playsInline = true;
      video.className = "remote";
      video.setAttribute("aria-label", remoteLabel(id));
      $("remotes").append(video);
    }
    video.srcObject = e.streams[0];
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "connected") {
      peer.restarting = null;
      reportPath(id, peer);
    }
  };
  // A network change without a signaling drop: repair after a grace time.
  pc.oniceconnectionstatechange = () => {
    if (pc.iceConnectionState === "failed") repairPeers();
    if (pc.iceConnectionState === "disconnected") setTimeout(repairPeers, 2000);
  };
  return peer;
}
async function makeOffer(id, peer) {
  const offer = await peer.pc.createOffer();
  await peer.pc.setLocalDescription(offer);
  send({ type: "signal", to: id, data: { kind: "offer", sdp: offer.sdp } });
}
async function onSignal(from, data) {
  let peer = state.peers.get(from);
  if (!peer) {
    if (!state.iceServers) return;
    peer = newPeer(from);
  }
  const pc = peer.pc;
  if (data.kind === "offer") {
    await pc.setRemoteDescription({ type: "offer", sdp: data.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    send({ type: "signal", to: from, data: { kind: "answer", sdp: answer.sdp } });
    for (const c of peer.pending.splice(0)) await pc.addIceCandidate(c).catch(() => {});
  } else if (data.kind === "answer") {
    await pc.setRemoteDescription({ type: "answer", sdp: data.sdp });
    for (const c of peer.pending.splice(0)) await pc.addIceCandidate(c).catch(() => {});
  } else if (data.kind === "candidate") {
    const c = { candidate: data.candidate, sdpMid: data.sdp_mid, sdpMLineIndex: data.sdp_m_line_index };
    if (pc.remoteDescription) await pc.addIceCandidate(c).catch(() => {});
    else peer.pending.push(c);
  }
}
// A remote video's name: the participant's role, and name if shown.
function remoteLabel(id) {
  const p = state.room?.participants.find((x) => x.id === id);
  const who = p ? `${t("roles")[p.role] ?? p.role}${p.display_name ? ` — ${p.display_name}` : ""}` : String(id);
  return t("remote_label").replace("{who}", who);
}
function closePeers() {
  for (const [id, peer] of state.peers) {
    sharing.detach(id);
    peer.pc.close();
    document.getElementById(`remote-${id}`)?.remove();
  }
  state.peers.clear();
}

// Tells the server the path and codecs once, and shows the quality.
async function reportPath(id, peer) {
  const stats = await peer.pc.getStats();
  let pair, local, remote;
  const codecs = new Set();
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    if (s.type === "codec" && s.mimeType) codecs.add(s.mimeType.split("/")[1]);
  });
  if (pair) {
    local = stats.get(pair.localCandidateId);
    remote = stats.get(pair.remoteCandidateId);
  }
  const types = [local?.candidateType, remote?.candidateType].filter(Boolean);
  if (!peer.reported) {
    // Right at "connected", Chromium's stats may not name the selected
    // pair yet: ask again shortly rather than report a guessed route.
    if (types.length === 0) {
      peer.pathTries = (peer.pathTries ?? 0) + 1;
      if (peer.pathTries <= 20) setTimeout(() => reportPath(id, peer), 250);
      return;
    }
    peer.reported = true;
    send({ type: "media_path", route: types.includes("relay") ? "relay" : "direct", candidate_types: types, codecs: [...codecs] });
  }
}
// The RTT of a cut link stays at its last value, so while signaling is
// lost or a peer's ICE is down the line says the link is cut instead.
// The line is a live region: it is written only when the grade changes, and
// a new grade (other than cut) shows once read twice in a row (4 s), so a
// round trip hovering near a threshold does not make screen readers speak
// every 2 s.
setInterval(async () => {
  const down = [...state.peers.values()].some((p) => ["disconnected", "failed"].includes(p.pc.iceConnectionState));
  if (state.lostAt != null || down) {
    if (state.peers.size > 0) setQuality("quality_lost");
    return;
  }
  let worst;
  for (const peer of state.peers.values()) {
    const stats = await peer.pc.getStats();
    stats.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) {
        worst = Math.max(worst ?? 0, s.currentRoundTripTime);
      }
    });
  }
  if (worst === undefined) return;
  // How many readings were taken: tests wait for some instead of a time.
  document.body.dataset.qualityReads = String(Number(document.body.dataset.qualityReads ?? 0) + 1);
  const key = worst < 0.15 ? "quality_good" : worst < 0.4 ? "quality_fair" : "quality_poor";
  if (key === state.qualitySeen) setQuality(key);
  state.qualitySeen = key;
}, 2000);
function setQuality(key) {
  if (key === state.qualityKey) return;
  state.qualityKey = key;
  renderQuality();
}
function renderQuality() {
  $("quality").textContent = state.qualityKey ? t(state.qualityKey) : "";
}

// ------------------------------------------------------------------ end
// The end, said once: `key` names the sentence of the ended screen.
function end(key) {
  state.ended = true;
  sharing.stop();
  closePeers();
  for (const track of state.stream?.getTracks() ?? []) track.stop();
  $("panel").hidden = true;
  state.endKey = key;
  renderEnded();
  banner("");
  show("ended");
  announce("ended", t(key));
  state.ws?.close(1000);
}
function renderEnded() {
  $("ended-text").textContent = state.endKey ? t(state.endKey) : "";
}

// ------------------------------------------------------- quality, modes
const quality = createQuality({ state, send, record, $, t });
// ------------------------------------------------ chat, files, screen
const sharing = createSharing({ state, record, $, t, makeOffer });

// ------------------------------------------------------------------ start
async function main() {
  translate();
  const invitation = await checkInvitation();
  if (!invitation) return;
  await deviceCheck();
  show("waiting", { focus: false });
  connect();
  quality.start();
}
main();
