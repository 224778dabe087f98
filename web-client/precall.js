// The pre-call connection test, run from the device-check screen.
//
// For each path the server offers (direct; through its relay over UDP, TCP
// or TLS) the page opens a peer connection with one data channel to the
// server's test peer (media/src/probe.rs), measures the time to connect,
// the round trip of a few pings and what it can upload in a moment, then
// closes it. The paths are tried one after another, so that uploads do not
// share the line. The figures go back to the server, which records them
// with the act and answers with its verdict: good, limited or failed.

const PINGS = 5;
const UPLOAD_MS = 700;
const CHUNK = 16000; // below the 16 KiB a data channel message may carry
const HIGH_WATER = 64 * 1024;
const CONNECT_TIMEOUT_MS = 8000;
const ANSWER_TIMEOUT_MS = 5000;

async function post(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(json.error || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return json;
}

function timeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}

// Text messages from the probe, waited for by prefix ("pong 3", "up ...").
function inbox(channel) {
  const waiting = [];
  channel.addEventListener("message", (e) => {
    if (typeof e.data !== "string") return;
    const i = waiting.findIndex((w) => e.data.startsWith(w.prefix));
    if (i >= 0) waiting.splice(i, 1)[0].resolve(e.data);
  });
  return (prefix) => new Promise((resolve) => waiting.push({ prefix, resolve }));
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function upload(channel, next) {
  channel.bufferedAmountLowThreshold = HIGH_WATER / 4;
  const chunk = new Uint8Array(CHUNK);
  const end = performance.now() + UPLOAD_MS;
  while (performance.now() < end) {
    if (channel.bufferedAmount > HIGH_WATER) {
      await new Promise((resolve) =>
        channel.addEventListener("bufferedamountlow", resolve, { once: true }),
      );
      continue;
    }
    channel.send(chunk);
  }
  const answer = next("up ");
  channel.send("up?");
  const [, bytes, ms] = (await timeout(answer, ANSWER_TIMEOUT_MS, "upload")).split(" ");
  const millis = Math.max(Number(ms), 1);
  return Math.round((Number(bytes) * 8) / millis); // bits per ms = kbit/s
}

async function testPath(token, { path, ice_servers }) {
  const started = performance.now();
  const pc = new RTCPeerConnection({
    iceServers: ice_servers,
    iceTransportPolicy: path === "direct" ? "all" : "relay",
  });
  try {
    const channel = pc.createDataChannel("probe");
    const next = inbox(channel);
    const opened = new Promise((resolve) => channel.addEventListener("open", resolve, { once: true }));
    await pc.setLocalDescription(await pc.createOffer());
    await timeout(gathered(pc), CONNECT_TIMEOUT_MS, "gathering");
    const answer = await post("/api/precall/offer", { token, sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    await timeout(opened, CONNECT_TIMEOUT_MS, "connecting");
    const connect_ms = Math.round(performance.now() - started);
    const rtts = [];
    for (let i = 0; i < PINGS; i++) {
      const sent = performance.now();
      const pong = next(`pong ${i}`);
      channel.send(`ping ${i}`);
      await timeout(pong, ANSWER_TIMEOUT_MS, "ping");
      rtts.push(performance.now() - sent);
    }
    const rtt_ms = Math.round(median(rtts) * 10) / 10;
    let upload_kbps;
    try {
      upload_kbps = await upload(channel, next);
    } catch {
      upload_kbps = undefined; // connected, but too slow to measure
    }
    return { path, status: "ok", rtt_ms, upload_kbps, connect_ms };
  } catch (e) {
    if (e.status && e.status !== 400) throw e; // the server refused: not a network failure
    return { path, status: "failed" };
  } finally {
    pc.close();
  }
}

// Runs the whole test. `onPath(result)` is called as each path finishes.
// Resolves to { paths, verdict }, or null when the server runs no test.
export async function runConnectionTest(token, onPath = () => {}) {
  let start;
  try {
    start = await post("/api/precall/start", { token });
  } catch (e) {
    if (e.status === 503) return null;
    throw e;
  }
  const results = [];
  for (const p of start.paths) {
    const r = await testPath(token, p);
    results.push(r);
    onPath(r);
  }
  for (const path of start.unavailable) {
    const r = { path, status: "unavailable" };
    results.push(r);
    onPath(r);
  }
  const recorded = await post("/api/precall/result", { token, paths: results });
  return { paths: results, verdict: recorded.verdict };
}
