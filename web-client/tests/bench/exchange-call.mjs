// Benchmark: a file shared during a live téléexpertise, as the users live it.
// Two professionals join the real server's session page in headless
// Chromium (fake camera), directly or through the built-in relay
// (`?relay=udp` on both links); the requester shares a file through « Partager
// un fichier » and the expert's page receives it, checked by SHA-256.
// Not a test (`node --test` does not pick it up): run it by hand and copy
// the figures into docs/BENCHMARKS.md.
//
//   node web-client/tests/bench/exchange-call.mjs [--size MiB] [--rounds N] [--window S]
//
// Per round, interleaved: direct, then relay. Each path is a fresh act and
// fresh pages; it measures
// - the expert's received video frame rate for `--window` seconds with no
//   transfer (frames the page presented: `getVideoPlaybackQuality()`),
// - the transfer: MB/s from the click on the file chooser to the file
//   delivered and checked on the expert's side (hashing at both ends
//   included), and the expert's video frame rate over that transfer.
// Prints each round and the medians. MB = 10^6 bytes.
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bin, expectPlaying, launchChromium, startDemo, stopDemo, waitHealthy } from "../helpers.mjs";

const { values: opt } = parseArgs({
  options: {
    size: { type: "string", default: "100" },
    rounds: { type: "string", default: "3" },
    window: { type: "string", default: "10" },
  },
});
const bytes = Number(opt.size) * 1024 * 1024;
const rounds = Number(opt.rounds);
const windowMs = Number(opt.window) * 1000;

const dir = mkdtempSync(join(tmpdir(), "tc-bench-"));
const file = join(dir, "serie.bin");
const content = randomBytes(bytes);
writeFileSync(file, content);
const digest = createHash("sha256").update(content).digest("hex");

/** Frames the page's remote video presented so far, and when. */
const frames = (page) =>
  page.evaluate(() => ({
    n: document.querySelector("#remotes video").getVideoPlaybackQuality().totalVideoFrames,
    t: performance.now(),
  }));
const fps = (a, b) => ((b.n - a.n) * 1000) / (b.t - a.t);

/** Adds `?relay=udp` before the link's `#`. */
const viaRelay = (link) => {
  const [base, hash] = link.split("#");
  return `${base}${base.includes("?") ? "&" : "?"}relay=udp#${hash}`;
};

async function measure(relay, data) {
  const port = 20443 + Math.floor(Math.random() * 1000);
  const { child } = await startDemo(data, port);
  let ctx = null;
  try {
    await waitHealthy(port);
    const out = spawnSync(bin, [
      "--data", data, "act", "create", "--kind", "teleexpertise",
      "--professional", "Dr Requérant Fictif", "--rpps", "10000000009",
      "--expert", "Dr Experte Fictive", "--expert-rpps", "10101010105",
      "--without-patient", "--question", "Lecture d'une série (banc d'essai)",
      "--public-url", `https://127.0.0.1:${port}`, "--json",
    ], { encoding: "utf8" });
    if (out.status !== 0) throw new Error(out.stderr);
    const act = JSON.parse(out.stdout);
    const link = (l) => (relay ? viaRelay(l) : l);
    // A fresh browser profile per measure.
    ctx = await launchChromium();
    const requester = await ctx.newPage();
    const expert = await ctx.newPage();
    await requester.goto(link(act.links.professional));
    await requester.getByRole("button", { name: "Continuer" }).click();
    await expert.goto(link(act.links.expert));
    await expert.getByRole("button", { name: "Continuer" }).click();
    await requester.getByRole("button", { name: "J'atteste le consentement du patient" }).click();
    await expectPlaying(expert, "#remotes video");
    for (const p of [requester, expert]) await p.waitForSelector("#exchange[data-peers='1']", { timeout: 20000 });

    const idleA = await frames(expert);
    await expert.waitForTimeout(windowMs);
    const idleB = await frames(expert);

    const start = Date.now();
    const [chooser] = await Promise.all([
      requester.waitForEvent("filechooser"),
      requester.getByRole("button", { name: "Partager un fichier" }).click(),
    ]);
    const busyA = await frames(expert);
    await chooser.setFiles(file);
    const done = expert.locator("#received li[data-ok='true']").first();
    await done.waitFor({ timeout: 600000 });
    const busyB = await frames(expert);
    const ms = Date.now() - start;
    const got = await done.evaluate((li) => li.dataset.sha256);
    if (got !== digest) throw new Error(`digest differs: ${got}`);
    return {
      act: act.id,
      path: relay ? "relay (udp)" : "direct",
      mbps: bytes / 1e6 / (ms / 1000),
      idleFps: fps(idleA, idleB),
      busyFps: fps(busyA, busyB),
      seconds: ms / 1000,
    };
  } finally {
    if (ctx) await ctx.close();
    await stopDemo(child);
  }
}

/** The media routes the act's trace recorded (`media_connected`). */
function routes(data, act) {
  const show = spawnSync(bin, ["--data", data, "trace", "show", act, "--json"], { encoding: "utf8" });
  return [...new Set(JSON.parse(show.stdout).events.filter((e) => e.kind === "media_connected").map((e) => e.event.route))];
}

const results = [];
for (let r = 1; r <= rounds; r++) {
  for (const relay of [false, true]) {
    const data = mkdtempSync(join(tmpdir(), "tc-bench-data-"));
    const m = await measure(relay, data);
    m.routes = routes(data, m.act);
    results.push(m);
    console.log(
      `round ${r} ${m.path.padEnd(11)} ${m.mbps.toFixed(1)} MB/s (${m.seconds.toFixed(1)} s)` +
        `  video ${m.idleFps.toFixed(1)} fps without, ${m.busyFps.toFixed(1)} fps during` +
        `  (trace: ${m.routes.join(", ")})`,
    );
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const path of ["direct", "relay (udp)"]) {
  const rs = results.filter((m) => m.path === path);
  console.log(
    `median ${path.padEnd(11)} ${median(rs.map((m) => m.mbps)).toFixed(1)} MB/s` +
      `  video ${median(rs.map((m) => m.idleFps)).toFixed(1)} fps without, ` +
      `${median(rs.map((m) => m.busyFps)).toFixed(1)} fps during (${Number(opt.size)} MiB, ${rs.length} rounds)`,
  );
}
