// Link quality: stats reported to the server every few seconds (from
// getStats, summed over the inbound streams), the automatic audio-only
// fallback with hysteresis (and its manual toggle), and, for
// professionals, the live incident list and the phone route. app.js owns
// the call; this module only reads its peers and sends messages.

// Report period, and how many consecutive bad or good reports switch mode:
// 3 bad (6 s) to drop video, 5 good (10 s) to bring it back.
export const REPORT_MS = 2000;
const BAD_TO_AUDIO = 3;
const GOOD_TO_VIDEO = 5;
// A link is bad with more than 8 % loss or under 250 kbit/s of estimated
// outgoing bandwidth, good under 2 % loss and over 400 kbit/s.
const LOSS_BAD = 0.08;
const LOSS_GOOD = 0.02;
const BW_BAD_KBPS = 250;
const BW_GOOD_KBPS = 400;

export function createQuality({ state, send, record, $, t }) {
  const q = {
    mode: "video", // this participant's mode: video | audio_only | phone
    manual: false, // audio-only chosen by hand: no automatic return
    bad: 0,
    good: 0,
    last: new Map(), // peer id -> { at, bytes, received, lost }
    incidents: new Map(), // incident number -> view
  };

  // Sums one peer connection's stats into the report's shape.
  async function sample(id, peer) {
    const stats = await peer.pc.getStats();
    let received = 0, lost = 0, frames = 0, bytes = 0, pair, videoIn = false;
    stats.forEach((s) => {
      if (s.type === "inbound-rtp") {
        received += s.packetsReceived ?? 0;
        lost += s.packetsLost ?? 0;
        bytes += s.bytesReceived ?? 0;
        if (s.kind === "video") {
          videoIn = true;
          frames += s.framesDecoded ?? 0;
        }
      }
      if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    const now = performance.now();
    const prev = q.last.get(id);
    q.last.set(id, { at: now, bytes, received, lost });
    const local = pair && stats.get(pair.localCandidateId);
    const remote = pair && stats.get(pair.remoteCandidateId);
    const relay = [local?.candidateType, remote?.candidateType].includes("relay");
    const report = {
      type: "stats",
      ice: peer.pc.iceConnectionState,
      peer_connection: peer.pc.connectionState,
      packets_received: received,
      packets_lost: lost,
      video_on: videoIn && q.mode === "video",
    };
    if (videoIn) report.frames_decoded = frames;
    if (pair?.currentRoundTripTime !== undefined) report.rtt_ms = pair.currentRoundTripTime * 1000;
    if (prev && now > prev.at) report.bitrate_kbps = ((bytes - prev.bytes) * 8) / (now - prev.at);
    if (pair) report.route = relay ? "relay" : "direct";
    const interval = prev ? { received: received - prev.received, lost: lost - prev.lost } : null;
    return { report, interval, bandwidth: pair?.availableOutgoingBitrate };
  }

  // Bad, good or neither, from the latest interval. While this client
  // sends no video its bandwidth estimate stays low whatever the link, so
  // only loss says when video may come back.
  function judge({ interval, bandwidth }) {
    const total = interval ? interval.received + Math.max(0, interval.lost) : 0;
    const loss = total >= 10 ? Math.max(0, interval.lost) / total : null;
    const kbps = bandwidth !== undefined && q.mode === "video" ? bandwidth / 1000 : null;
    if ((loss !== null && loss > LOSS_BAD) || (kbps !== null && kbps < BW_BAD_KBPS)) return "bad";
    if ((loss === null || loss < LOSS_GOOD) && (kbps === null || kbps > BW_GOOD_KBPS)) return "good";
    return "neither";
  }

  function setVideo(on) {
    for (const track of state.stream?.getVideoTracks() ?? []) track.enabled = on;
  }

  // Applies a mode locally; tells the server when this client decided.
  function apply(mode, cause, tell) {
    if (mode === q.mode) return;
    q.mode = mode;
    setVideo(mode === "video");
    $("audio-only").setAttribute("aria-pressed", String(mode !== "video"));
    // data-i18n: app.js's language switch shows the same labels.
    $("audio-only").dataset.i18n = mode === "video" ? "audio_only" : "video_back";
    $("audio-only").textContent = t($("audio-only").dataset.i18n);
    const note = mode === "phone" ? "mode_phone" : cause === "automatic" ? "mode_audio_only" : "mode_audio_only_manual";
    if (mode === "video") delete $("mode-note").dataset.i18n;
    else $("mode-note").dataset.i18n = note;
    $("mode-note").textContent = mode === "video" ? "" : t(note);
    if (tell) record({ type: "mode", mode, cause });
  }

  async function tick() {
    if (state.ended || !state.peers.size) return;
    let verdict = "neither";
    for (const [id, peer] of state.peers) {
      if (peer.pc.connectionState === "closed") continue;
      const s = await sample(id, peer).catch(() => null);
      if (!s) continue;
      send(s.report);
      const v = judge(s);
      if (v === "bad" || (v === "good" && verdict !== "bad")) verdict = v;
    }
    q.bad = verdict === "bad" ? q.bad + 1 : 0;
    q.good = verdict === "good" ? q.good + 1 : 0;
    if (q.mode === "video" && q.bad >= BAD_TO_AUDIO) apply("audio_only", "automatic", true);
    else if (q.mode === "audio_only" && !q.manual && q.good >= GOOD_TO_VIDEO) apply("video", "automatic", true);
  }

  $("audio-only").addEventListener("click", () => {
    if (q.mode === "phone") return;
    const next = q.mode === "video" ? "audio_only" : "video";
    q.manual = next === "audio_only";
    q.bad = q.good = 0;
    apply(next, "manual", true);
  });

  function renderIncidents() {
    const list = $("incidents");
    list.replaceChildren();
    for (const i of [...q.incidents.values()].sort((a, b) => a.incident - b.incident)) {
      const li = document.createElement("li");
      const kind = t("incident_kinds")[i.kind] ?? i.kind;
      const who = i.participant ? ` (p${i.participant})` : "";
      const since = new Date(i.opened_at).toLocaleTimeString(state.lang);
      // A lost connection's whole outage (from the last frame heard, or,
      // when the server itself was lost, from its last recorded event) is
      // longer than the incident, which opens once the loss is noticed.
      const ms = i.metrics?.outage_ms ?? i.duration_ms;
      li.textContent = i.closed_at
        ? `${kind}${who} — ${since}, ${(ms / 1000).toFixed(1)} s`
        : `${kind}${who} — ${t("incident_ongoing")} ${since}`;
      li.className = i.closed_at ? "incident closed" : "incident open";
      list.append(li);
    }
    $("incidents-none").hidden = q.incidents.size > 0;
  }

  return {
    start() {
      setInterval(tick, REPORT_MS);
    },
    // Server messages this module handles; returns whether it did.
    onMessage(m) {
      switch (m.type) {
        case "incident":
          q.incidents.set(m.incident, m);
          renderIncidents();
          return true;
        case "mode_changed":
          if (m.participant === state.me?.participant) {
            if (m.cause === "manual") q.manual = m.mode === "audio_only";
            apply(m.mode, m.cause, false);
          }
          return true;
        case "phone_route":
          $("phone-number").textContent = `${t("call_back")} ${m.number}`;
          return true;
      }
      return false;
    },
    // After the first welcome: the call-back number typed on the device
    // screen, recorded once (a reconnection does not give it again).
    welcomed() {
      if (q.callbackGiven) return;
      q.callbackGiven = true;
      const number = $("callback")?.value.trim();
      const role = state.me?.role;
      if (number && (role === "patient" || role === "companion")) record({ type: "callback_number", number });
    },
    // The professional's button next to a participant.
    phoneButton(participantId) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.dataset.key = `phone-${participantId}`; // app.js gives the focus back after a redraw
      b.textContent = t("phone_route");
      b.addEventListener("click", () => record({ type: "mode", mode: "phone", cause: "manual", participant: participantId }));
      return b;
    },
  };
}
