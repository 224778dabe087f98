// Benchmark: the first relayed video frame of a téléconsultation, in
// headless Chromium (fake camera), through the server's embedded TURN
// relay (`?relay=udp` on both links: only the relay's UDP URL is kept and
// iceTransportPolicy is "relay"). Not a test (`node --test` does not pick it
// up): run it by hand, from web-client/tests:
//
//   TELECONSULT_BIN=/work/main/target/release/teleconsult ROOMS=5 node bench/first-frame.mjs
//
// Environment: ROOMS (5), PORT (47443: run N listens on PORT + N), LABEL
// (names the screenshots), VIEWPORT (1280x1800), STATS_POLL=0 (no getStats
// poll of the media counters), DEBUG=1 (the <video> events too).
//
// ROOMS consultations, one after the other, each with a fresh `teleconsult
// demo` server (its own data directory) and two fresh Chromiums, one per
// participant, as on two machines (two tabs of one browser leave the first
// in the background, where Chromium shows its remote video ~0.7 s late,
// whichever role it holds). The flow is consultation.test.mjs's: the
// professional opens their link and continues, the patient opens theirs,
// continues, consents and waits; the professional lets them in. Before each
// « Continuer », the page's pre-call connection test is waited out (its
// verdict shown), so its peer connections do not overlap the call's. The
// viewport is tall so that the professional's remote video is on screen
// (a 720 px page scrolls down to « Faire entrer »).
//
// The pages are instrumented from the outside (Playwright init script, no
// change to app.js): WebSocket and RTCPeerConnection are subclassed to
// timestamp messages and connection events; each remote <video> is watched
// for its first frame. Times are performance.timeOrigin + now() of each
// page: the host's wall clock, in both browsers.
//
// START (t0): the patient's page receives `ice_servers`, the server telling
//   it that media is allowed (sent in the step that handles the admission).
//   The professional's click on « Faire entrer » is printed relative to it
//   (negative: before), and the first frames are also summed from the click.
// END, per page, first frame of the remote video:
//   - "first frame": the first requestVideoFrameCallback's presentationTime
//     (the first decoded frame handed to the compositor);
//   - "playing check": the first animation frame where videoWidth > 0 &&
//     currentTime > 0 (rAF poll, ≤ 16 ms late), as a cross-check.
// ICE: the peer connection's iceconnectionstatechange → "connected" (event
//   time); "DTLS": connectionstatechange → "connected". From ICE connected
//   on, getStats is polled every 20 ms: the run fails unless the transport's
//   selected pair is relay ↔ relay; until the first frame (+200 ms) the poll
//   also notes when the video counters first move (sent, received, decoded,
//   PLI, NACK), coarse: Chromium caches getStats results for a while.
// The timeline lines of each page show where the time goes: pc created,
//   offer/answer, first relay candidate (TURN allocation done), ICE, DTLS,
//   and the first frame's receiveTime (its last packet in) vs presentation.
// p50 / p95 are nearest-rank (with 5 runs, p95 is the slowest run).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium, shots, startDemo, stopDemo, waitHealthy } from "../helpers.mjs";

const rooms = Number(process.env.ROOMS ?? 5);
const basePort = Number(process.env.PORT ?? 47443);
const label = process.env.LABEL ?? ""; // names the screenshots, e.g. "max-bundle"
// Tall enough that the professional's remote video stays on screen when the
// click on « Faire entrer » (at the panel's bottom) would scroll a 720 px page.
const [vw, vh] = (process.env.VIEWPORT ?? "1280x1800").split("x").map(Number);
const viewport = { width: vw, height: vh };
const statsPoll = process.env.STATS_POLL !== "0"; // getStats every 20 ms from ICE connected to first frame

/** Adds `?relay=udp` before the link's `#`. */
const viaRelay = (link) => {
  const [base, hash] = link.split("#");
  return `${base}${base.includes("?") ? "&" : "?"}relay=udp#${hash}`;
};

// Runs in each page before its scripts.
function instrument(POLL) {
  const T = () => performance.timeOrigin + performance.now();
  const rec = { ws: {}, admitClick: null, pcs: [], videos: [] };
  window.__ff = rec;
  window.__ffPcs = [];

  const OrigWS = window.WebSocket;
  window.WebSocket = class extends OrigWS {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        const at = T();
        let m;
        try {
          m = JSON.parse(e.data);
        } catch {
          return;
        }
        if (m.type === "ice_servers") rec.ws.iceServers ??= at;
        if (m.type === "state" && m.media_allowed) rec.ws.mediaAllowed ??= at;
      });
    }
  };

  const OrigPC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends OrigPC {
    constructor(config, ...rest) {
      super(config, ...rest);
      const stack = new Error().stack ?? "";
      const r = { kind: stack.includes("precall.js") ? "precall" : "call", created: T(), ev: {}, pair: null };
      const conf = this.getConfiguration();
      r.config = {
        bundlePolicy: conf.bundlePolicy,
        iceTransportPolicy: conf.iceTransportPolicy,
        urls: (conf.iceServers ?? []).flatMap((s) => s.urls),
      };
      rec.pcs.push(r);
      window.__ffPcs.push(this);
      this.__ff = r;
      const once = (k) => (r.ev[k] ??= T());
      this.addEventListener("icecandidate", (e) => {
        if (!e.candidate) return once("gathered");
        once("candidate");
        if (/ typ relay/.test(e.candidate.candidate)) once("relayCandidate");
      });
      this.addEventListener("iceconnectionstatechange", () => {
        once(`ice-${this.iceConnectionState}`);
        if (this.iceConnectionState === "connected" && !r.polling) {
          r.polling = true;
          const started = T();
          const first = (k, cond) => {
            if (cond) r.ev[k] ??= T();
          };
          const poll = async () => {
            if (this.signalingState === "closed") return;
            const stats = await this.getStats();
            const at = T();
            let pair;
            let inV;
            let outV;
            stats.forEach((s) => {
              if (s.type === "transport" && s.selectedCandidatePairId) pair ??= stats.get(s.selectedCandidatePairId);
              if (s.type === "inbound-rtp" && s.kind === "video") inV = s;
              if (s.type === "outbound-rtp" && s.kind === "video") outV = s;
            });
            if (!r.pair && pair && pair.state === "succeeded") {
              const l = stats.get(pair.localCandidateId);
              const p = stats.get(pair.remoteCandidateId);
              r.pair = {
                seen: at,
                local: l?.candidateType, remote: p?.candidateType,
                protocol: l?.protocol, relayProtocol: l?.relayProtocol,
                transports: [...stats.values()].filter((s) => s.type === "transport").length,
              };
            }
            // Where the first frame's time goes, as getStats counts it.
            first("txPacket", outV?.packetsSent > 0);
            first("txEncoded", outV?.framesEncoded > 0);
            first("txPliIn", outV?.pliCount > 0);
            first("rxPacket", inV?.packetsReceived > 0);
            first("rxFrame", inV?.framesReceived > 0);
            first("rxDecoded", inV?.framesDecoded > 0);
            first("rxPliOut", inV?.pliCount > 0);
            first("rxNack", inV?.nackCount > 0);
            r.counts = {
              txKey: outV?.keyFramesEncoded, txPli: outV?.pliCount, txFir: outV?.firCount,
              rxKey: inV?.keyFramesDecoded, rxPli: inV?.pliCount, rxFir: inV?.firCount, rxNack: inV?.nackCount,
              rxLost: inV?.packetsLost, rxDropped: inV?.framesDropped,
            };
            if (POLL && !r.stop && at - started < 10000) setTimeout(poll, 20);
            else if (!r.pair) setTimeout(poll, 20);
          };
          poll();
        }
      });
      this.addEventListener("connectionstatechange", () => once(`conn-${this.connectionState}`));
      this.addEventListener("track", (e) => once(`track-${e.track.kind}`));
    }
    setLocalDescription(...args) {
      this.__ff.ev[`local-${args[0]?.type ?? "implicit"}`] ??= T();
      return super.setLocalDescription(...args);
    }
    setRemoteDescription(...args) {
      this.__ff.ev[`remote-${args[0]?.type}`] ??= T();
      return super.setRemoteDescription(...args);
    }
  };

  rec.visibility = [[document.visibilityState, T()]];
  document.addEventListener("visibilitychange", () => rec.visibility.push([document.visibilityState, T()]));
  document.addEventListener("click", (e) => {
    if (e.target?.closest?.('button[data-key^="admit-"]')) rec.admitClick ??= T();
  }, true);

  const watch = (v) => {
    if (v.__ff) return;
    const r = { id: v.id, added: T() };
    v.__ff = r;
    rec.videos.push(r);
    if (v.requestVideoFrameCallback) {
      v.requestVideoFrameCallback((now, meta) => {
        r.rvfc = performance.timeOrigin + now;
        r.presentation = performance.timeOrigin + meta.presentationTime;
        r.receive = meta.receiveTime != null ? performance.timeOrigin + meta.receiveTime : null;
        r.frameSize = `${meta.width}x${meta.height}`;
        setTimeout(() => rec.pcs.forEach((p) => (p.stop = true)), 200);
      });
    }
    r.events = {};
    for (const k of ["loadstart", "loadedmetadata", "loadeddata", "canplay", "play", "playing", "pause", "waiting", "resize", "suspend", "stalled"]) {
      v.addEventListener(k, () => (r.events[k] ??= T()));
    }
    const inView = () => {
      const b = v.getBoundingClientRect();
      return b.bottom > 0 && b.top < innerHeight && b.width > 0;
    };
    v.addEventListener("playing", () => (r.inViewAtPlaying = inView()), { once: true });
    const poll = () => {
      if (v.videoWidth > 0 && v.currentTime > 0) r.playing = T();
      else requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  };
  new MutationObserver((muts) => {
    for (const m of muts) {
      for (const n of m.addedNodes) if (n.nodeName === "VIDEO" && n.id.startsWith("remote-")) watch(n);
    }
  }).observe(document, { childList: true, subtree: true });
}

/** Waits out the pre-call connection test (verdict shown, or no test). */
const nettestDone = (page) =>
  page.waitForFunction(() => {
    const s = document.getElementById("nettest-summary");
    const v = s?.dataset.verdict;
    return (v && v !== "running") || (v === "running" && document.getElementById("nettest").hidden);
  }, null, { timeout: 60000 });

/** Waits for the first remote frame; the rVFC one may lag the rAF poll a little. */
async function firstFrame(page) {
  await page.waitForFunction(() => window.__ff.videos.some((v) => v.playing || v.presentation), null, { timeout: 20000 });
  await page.waitForFunction(() => window.__ff.videos.some((v) => v.playing && v.presentation), null, { timeout: 2000 }).catch(() => {});
}

async function run(n) {
  const data = mkdtempSync(join(tmpdir(), "tc-bench-ff-"));
  const port = basePort + n;
  const { child, links } = await startDemo(data, port);
  let ctxs = [];
  try {
    await waitHealthy(port);
    // One browser per participant, as on two machines: two tabs of one
    // browser would leave the first one in the background, where Chromium
    // composites its video late (~0.7 s), whichever role it holds.
    ctxs = await Promise.all([launchChromium(), launchChromium()]);
    for (const c of ctxs) await c.addInitScript(instrument, statsPoll);
    const pro = ctxs[0].pages()[0] ?? (await ctxs[0].newPage());
    const patient = ctxs[1].pages()[0] ?? (await ctxs[1].newPage());
    for (const p of [pro, patient]) {
      p.on("pageerror", (e) => console.error("page error:", e));
      await p.setViewportSize(viewport);
    }

    await pro.goto(viaRelay(links.professional));
    await nettestDone(pro);
    await pro.getByRole("button", { name: "Continuer" }).click();
    await patient.goto(viaRelay(links.patient));
    await nettestDone(patient);
    await patient.getByRole("button", { name: "Continuer" }).click();
    await patient.getByRole("button", { name: "J'accepte" }).click();
    await patient.getByRole("heading", { name: "Salle d'attente" }).waitFor();

    await pro.getByRole("button", { name: /Faire entrer/ }).click({ timeout: 10000 });
    await Promise.all([firstFrame(pro), firstFrame(patient)]);
    // Both first frames are in: screenshots no longer disturb the measure.
    if (n === 1) {
      const tag = label ? `${label}-` : "";
      await pro.screenshot({ path: join(shots, `first-frame-${tag}professional.png`) });
      await patient.screenshot({ path: join(shots, `first-frame-${tag}patient.png`) });
    }
    // The selected pair, once the poll started at ICE connected has it.
    const call = async (page) => {
      await page.waitForFunction(() => window.__ff.pcs.some((p) => p.kind === "call" && p.pair), null, { timeout: 5000 });
      return page.evaluate(() => window.__ff);
    };
    return { pro: await call(pro), patient: await call(patient) };
  } finally {
    await Promise.all(ctxs.map((c) => c.close()));
    await stopDemo(child);
    rmSync(data, { recursive: true, force: true });
  }
}

const pct = (xs, p) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.ceil(p * s.length) - 1] : NaN;
};
const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(0)}` : "—");

const rows = [];
let shownConfig = false;
for (let n = 1; n <= rooms; n++) {
  const r = await run(n);
  const t0 = r.patient.ws.iceServers;
  const side = (rec) => {
    const pc = rec.pcs.find((p) => p.kind === "call");
    const v = rec.videos[0] ?? {};
    if (pc.pair.local !== "relay" || pc.pair.remote !== "relay") {
      throw new Error(`run ${n}: the selected pair is ${pc.pair.local} ↔ ${pc.pair.remote}, not relayed`);
    }
    const e = pc.ev;
    const rel = (x) => (x == null ? NaN : x - t0);
    return {
      pc, v,
      frame: rel(v.presentation), playing: rel(v.playing), receive: rel(v.receive),
      ice: rel(e["ice-connected"]), dtls: rel(e["conn-connected"]),
      created: rel(pc.created), relayCand: rel(e.relayCandidate),
      offer: rel(e["local-offer"] ?? e["remote-offer"]), answer: rel(e["remote-answer"] ?? e["local-answer"]),
      track: rel(e["track-video"]), pairSeen: rel(pc.pair.seen),
      txPacket: rel(e.txPacket), txEncoded: rel(e.txEncoded), txPliIn: rel(e.txPliIn),
      rxPacket: rel(e.rxPacket), rxFrame: rel(e.rxFrame), rxDecoded: rel(e.rxDecoded), rxPliOut: rel(e.rxPliOut), rxNack: rel(e.rxNack),
    };
  };
  const pro = side(r.pro);
  const pat = side(r.patient);
  if (!shownConfig) {
    shownConfig = true;
    const c = pro.pc.config;
    console.log(
      `peer connection config (app.js): bundlePolicy ${c.bundlePolicy}, iceTransportPolicy ${c.iceTransportPolicy}, ` +
        `urls ${c.urls.join(" ")}; path ${pro.pc.pair.local}/${pro.pc.pair.relayProtocol} ↔ ${pro.pc.pair.remote}, ` +
        `${pro.pc.pair.transports} transport(s)`,
    );
  }
  const inView = [r.pro, r.patient].map((x) => (x.videos[0]?.inViewAtPlaying ? "on screen" : "OFF SCREEN")).join(" / ");
  const row = {
    admit: r.pro.admitClick - t0,
    proFromClick: pro.frame - (r.pro.admitClick - t0), patFromClick: pat.frame - (r.pro.admitClick - t0),
    proFrame: pro.frame, patFrame: pat.frame, proPlaying: pro.playing, patPlaying: pat.playing,
    proIce: pro.ice, patIce: pat.ice, proDtls: pro.dtls, patDtls: pat.dtls,
  };
  rows.push(row);
  console.log(
    `run ${n}: first frame professional ${ms(pro.frame)} ms, patient ${ms(pat.frame)} ms ` +
      `(playing check ${ms(pro.playing)} / ${ms(pat.playing)}); ICE connected ${ms(pro.ice)} / ${ms(pat.ice)} ms, ` +
      `DTLS ${ms(pro.dtls)} / ${ms(pat.dtls)} ms; relay ↔ relay; admit click at ${ms(row.admit)} ms, professional's ice_servers at ${ms(r.pro.ws.iceServers - t0)} ms; videos ${inView}`,
  );
  if (process.env.DEBUG) {
    for (const [name, rec] of [["professional", r.pro], ["patient", r.patient]]) {
      const v = rec.videos[0] ?? {};
      const ev = Object.entries(v.events ?? {}).map(([k, x]) => `${k} ${ms(x - t0)}`).join(", ");
      const vis = rec.visibility.map(([k, x]) => `${k} ${ms(x - t0)}`).join(", ");
      console.log(`    ${name}: video added ${ms(v.added - t0)}; ${ev}; visibility ${vis}`);
    }
  }
  for (const [name, s] of [["professional", pro], ["patient", pat]]) {
    console.log(
      `    ${name.padEnd(12)} pc ${ms(s.created)}  offer ${ms(s.offer)}  answer ${ms(s.answer)}  relay cand ${ms(s.relayCand)}  ` +
        `ICE ${ms(s.ice)}  (getStats pair ${ms(s.pairSeen)})  DTLS ${ms(s.dtls)}  track ${ms(s.track)}  ` +
        `frame in ${ms(s.receive)}  shown ${ms(s.frame)}  ${s.v.frameSize ?? ""}`,
    );
    if (statsPoll) {
      const c = s.pc.counts ?? {};
      console.log(
        `    ${"".padEnd(12)} getStats (20 ms poll, its cache may lag): sends video pkt ${ms(s.txPacket)} encoded ${ms(s.txEncoded)} (PLI in ${ms(s.txPliIn)}, ` +
          `key frames ${c.txKey}); receives pkt ${ms(s.rxPacket)} frame ${ms(s.rxFrame)} decoded ${ms(s.rxDecoded)} ` +
          `(PLI out ${ms(s.rxPliOut)} ×${c.rxPli}, NACK ${ms(s.rxNack)} ×${c.rxNack}, lost ${c.rxLost}, key ${c.rxKey})`,
      );
    }
  }
}

const stat = (k) => `${ms(pct(rows.map((r) => r[k]), 0.5))} / ${ms(pct(rows.map((r) => r[k]), 0.95))}`;
console.log(`p50 / p95 of ${rows.length} (ms from the patient's ice_servers):`);
console.log(`  first frame   professional ${stat("proFrame")}   patient ${stat("patFrame")}`);
console.log(`  first frame from the admit click: professional ${stat("proFromClick")}   patient ${stat("patFromClick")}`);
console.log(`  playing check professional ${stat("proPlaying")}   patient ${stat("patPlaying")}`);
console.log(`  ICE connected professional ${stat("proIce")}   patient ${stat("patIce")}`);
console.log(`  DTLS          professional ${stat("proDtls")}   patient ${stat("patDtls")}`);
