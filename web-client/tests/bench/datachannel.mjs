// Benchmark: how fast exchange.js moves a file over the files data channel
// (64 KiB chunks, back-pressure at 8 MiB / 1 MiB), in headless Chromium,
// without the teleconsult server. Not a test (`node --test` does not pick
// it up): run it by hand and copy the figures into docs/BENCHMARKS.md.
//
//   node web-client/tests/bench/datachannel.mjs [--size MiB] [--runs N] [--pages 1|2]
//        [--turn turn:HOST:PORT?transport=udp --turn-user U --turn-pass P]
//
// --pages 2 (the default): sender and receiver in two pages, signaling
// relayed by this script; --pages 1: both peer connections in one page.
// --turn (two pages only) forces both ends through that relay
// (iceTransportPolicy "relay"). Prints, per run and as the median:
// - wire: bytes / (offer sent → last chunk received), the channel's rate;
// - end to end: bytes / (share() → file delivered), with the SHA-256 of the
//   sender before and of the receiver after;
// - the longest main-thread stall seen in the pages (a 20 ms timer's
//   lateness): what a user of the page would feel during the transfer.
// MB = 10^6 bytes.
import { parseArgs } from "node:util";
import { launchChromium, serveWebClient } from "../helpers.mjs";

const { values: opt } = parseArgs({
  options: {
    size: { type: "string", default: "100" },
    runs: { type: "string", default: "3" },
    pages: { type: "string", default: "2" },
    turn: { type: "string" },
    "turn-user": { type: "string" },
    "turn-pass": { type: "string" },
  },
});
const mib = Number(opt.size);
const runs = Number(opt.runs);
const twoPages = opt.pages !== "1";
if (opt.turn && !twoPages) throw new Error("--turn needs --pages 2");
const config = opt.turn
  ? { iceServers: [{ urls: opt.turn.split(","), username: opt["turn-user"], credential: opt["turn-pass"] }], iceTransportPolicy: "relay" }
  : {};

const server = await serveWebClient();
const browser = await launchChromium();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (bytes, ms) => bytes / 1e6 / (ms / 1000);

try {
  const open = async () => {
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error("page error:", e));
    await page.goto(`${server.url}/tests/pages/exchange.html`);
    await page.waitForFunction(() => window.tc);
    return page;
  };
  let sender;
  let receiver;
  let [from, to] = ["A", "B"];
  if (twoPages) {
    sender = await open();
    receiver = await open();
    // Each way, signals are delivered one after the other, in order.
    const relay = (src, dst) => {
      let chain = Promise.resolve();
      return src.exposeFunction("sendSignal", (m) => {
        chain = chain.then(() => dst.evaluate((m) => tc.signal(m), m));
      });
    };
    await relay(sender, receiver);
    await relay(receiver, sender);
    const answering = receiver.evaluate(([c]) => tc.single("B", 2, 1, c), [config]);
    await receiver.waitForFunction(() => tc.signal);
    const link = await sender.evaluate(([c]) => tc.single("A", 1, 2, c), [config]);
    await answering;
    const pair = await sender.evaluate(async () => {
      const stats = [...(await tc.sides.A.pc.getStats()).values()];
      const p = stats.find((r) => r.type === "candidate-pair" && r.nominated && r.state === "succeeded");
      const c = (id) => stats.find((r) => r.id === id);
      return p && `${c(p.localCandidateId).candidateType}/${c(p.localCandidateId).protocol} → ${c(p.remoteCandidateId).candidateType}`;
    });
    console.log(`two pages, ${opt.turn ? `relay ${opt.turn}` : "direct"}; connection ${link.state}, path ${pair}`);
  } else {
    sender = receiver = await open();
    await sender.evaluate(() => tc.loopback());
    console.log("one page, two peer connections, direct");
  }

  const results = [];
  for (let run = 1; run <= runs; run++) {
    const key = await sender.evaluate((m) => tc.makeBlob(m), mib);
    await sender.evaluate((s) => tc.resetLag(s), from);
    if (twoPages) await receiver.evaluate((s) => tc.resetLag(s), to);
    const id = await sender.evaluate(([s, k]) => tc.share(s, k, "bench.bin"), [from, key]);
    await receiver.waitForFunction(([s, id]) => tc.sides[s].files.some((f) => f.id === id), [to, id], { timeout: 600000 });
    await sender.waitForFunction(([s, id]) => tc.sides[s].outgoing[id].finishedAt, [from, id]);
    const out = (await sender.evaluate((s) => tc.view(s), from)).outgoing[id];
    const rx = await receiver.evaluate((s) => tc.view(s), to);
    const file = rx.files.find((f) => f.id === id);
    const inc = rx.incoming.find((i) => i.id === id);
    if (!file.ok) throw new Error(`run ${run}: the file did not match`);
    const lastByte = inc.states.find((s) => s.state === "verifying").at;
    const tx = await sender.evaluate((s) => tc.view(s), from);
    const lag = Math.max(tx.lag, twoPages ? rx.lag : 0);
    // When the longest stall happened, for whoever looks into it.
    const phase = (at) => (at < out.sendingAt ? "sender hashing" : at < lastByte ? "transfer" : "receiver check");
    const where = twoPages && rx.lag > tx.lag ? `receiver, ${phase(rx.lagAt)}` : `sender, ${phase(tx.lagAt)}`;
    const bytes = mib * 1024 * 1024;
    const r = {
      wire: mb(bytes, lastByte - out.sendingAt),
      e2e: mb(bytes, file.at - out.t0),
      hashSend: out.sendingAt - out.t0,
      hashRecv: file.at - lastByte,
      lag,
    };
    results.push(r);
    console.log(
      `run ${run}: ${mib} MiB  wire ${r.wire.toFixed(1)} MB/s  end to end ${r.e2e.toFixed(1)} MB/s ` +
        `(sender hash ${r.hashSend.toFixed(0)} ms, receiver check ${r.hashRecv.toFixed(0)} ms)  longest stall ${r.lag.toFixed(0)} ms (${where})`,
    );
    await sender.evaluate(() => tc.forgetBlobs());
    await receiver.evaluate(() => tc.forgetBlobs());
  }
  const m = (k) => median(results.map((r) => r[k]));
  console.log(
    `median of ${runs}: wire ${m("wire").toFixed(1)} MB/s, end to end ${m("e2e").toFixed(1)} MB/s, longest stall ${m("lag").toFixed(0)} ms`,
  );
} finally {
  await browser.close();
  await server.close();
}
