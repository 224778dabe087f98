// What the browser tests share: the server binary, Chromium's flags, the
// demo server and the waits on media.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve, sep } from "node:path";
import { chromium } from "playwright-core";

export const root = resolve(import.meta.dirname, "../..");
export const bin = process.env.TELECONSULT_BIN ?? join(root, "target/debug/teleconsult");
export const shots = join(root, "target/e2e");
mkdirSync(shots, { recursive: true });

export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
  "--ignore-certificate-errors",
];

/**
 * Starts `teleconsult demo` on `host:port` (with `extra` flags) and resolves
 * with its links once it listens.
 */
export function startDemo(data, port, { host = "127.0.0.1", extra = [] } = {}) {
  // The relay refuses loopback and private peers unless told: the browsers
  // run on loopback and in the 10.77.N.0/24 namespaces.
  const peers = ["--relay-allow-peers", "127.0.0.0/8,10.77.0.0/16"];
  const child = spawn(bin, ["--data", data, "demo", "--listen", `${host}:${port}`, ...peers, ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    let act = null;
    const links = {};
    const timer = setTimeout(() => reject(new Error(`demo did not start: ${out}`)), 30000);
    const check = () => {
      if (out.includes("listening on") && links.patient && links.professional && act) {
        clearTimeout(timer);
        resolve({ child, links, act });
      }
    };
    const read = (chunk) => {
      out += chunk;
      for (const line of out.split("\n")) {
        const m = line.match(/^\s+(\w+)\s+(https:\/\/\S+)$/);
        if (m) links[m[1]] = m[2];
        const a = line.match(/^demo téléconsultation (\S+)/);
        if (a) act = a[1];
      }
      check();
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    // What the server printed so far, for a failing test to show.
    child.output = () => out;
    child.on("exit", (code) => reject(new Error(`demo exited ${code}: ${out}`)));
  });
}

/** Polls /healthz until the server answers. */
export async function waitHealthy(port, host = "127.0.0.1") {
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0"; // the demo's self-signed certificate
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`https://${host}:${port}/healthz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the server never became healthy");
}

/** Waits until `video` has decoded frames and its clock is moving. */
export async function expectPlaying(page, selector) {
  await page.waitForFunction((sel) => {
    const v = document.querySelector(sel);
    return v && v.videoWidth > 0 && v.currentTime > 0;
  }, selector, { timeout: 20000 });
  const t0 = await page.$eval(selector, (v) => v.currentTime);
  await page.waitForTimeout(1500);
  const t1 = await page.$eval(selector, (v) => v.currentTime);
  assert.ok(t1 > t0, `${selector} is not advancing (${t0} -> ${t1})`);
  return page.$eval(selector, (v) => v.videoWidth);
}

/** Stops the demo server and waits for it to exit. */
export async function stopDemo(child) {
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
}

/**
 * `trace show ACT --json`, parsed: { act, events, attachments, shares }
 * (the last two each with its `sha256`).
 */
export function shownTrace(data, act) {
  const show = spawnSync(bin, ["--data", data, "trace", "show", act, "--json"], { encoding: "utf8" });
  assert.equal(show.status, 0, show.stderr);
  return JSON.parse(show.stdout);
}

/** Runs `trace verify` (which must pass), then returns the act's events. */
export function verifiedEvents(data, act) {
  const verify = spawnSync(bin, ["--data", data, "trace", "verify"], { encoding: "utf8" });
  assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  return shownTrace(data, act).events;
}

// axe-core's source, evaluated in the page (not a <script> tag, which the
// server's Content-Security-Policy would refuse).
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * Runs axe-core on what `page` shows now (hidden screens are not checked)
 * and fails on any violation of impact serious or critical, listing each
 * with the elements it concerns. Minor and moderate ones are printed, not
 * failed. Returns every violation found.
 */
export async function checkA11y(page, label) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
  const { violations } = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const list = (vs) =>
    vs.map((v) => {
      const nodes = v.nodes.map((n) => `      ${n.target.join(" ")}: ${(n.failureSummary ?? "").replace(/\s+/g, " ").trim()}`);
      return `  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n${nodes.join("\n")}`;
    }).join("\n");
  if (violations.length) console.log(`axe on ${label}: ${violations.length} violation(s)\n${list(violations)}`);
  const grave = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.equal(grave.length, 0, `axe on ${label}: ${grave.length} serious or critical violation(s)\n${list(grave)}`);
  return violations;
}

/**
 * The focus ring of the focused element: its outline's style, width and
 * colour, whether `:focus-visible` matches, and the contrast ratio (WCAG)
 * of the outline against the background it is drawn on (the nearest
 * ancestor with an opaque background, the page's white otherwise).
 */
export function focusRing(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    const rgb = (c) => (c.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    let bg = [255, 255, 255];
    for (let n = el.parentElement; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || c[3] === 1) {
        bg = c;
        break;
      }
    }
    const cs = getComputedStyle(el);
    const [a, b] = [lum(rgb(cs.outlineColor)), lum(bg)];
    return {
      element: `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""} "${(el.getAttribute("aria-label") ?? el.textContent ?? "").trim().slice(0, 40)}"`,
      visible: el.matches(":focus-visible"),
      style: cs.outlineStyle,
      width: parseFloat(cs.outlineWidth),
      outline: cs.outlineColor,
      background: `rgb(${bg.slice(0, 3).join(", ")})`,
      ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
    };
  });
}

/** Headless Chromium with a fresh profile; `executablePath` may be a wrapper. */
export function launchChromium(executablePath = "/usr/bin/chromium") {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "tc-chromium-")), {
    executablePath,
    args: CHROMIUM_ARGS,
    headless: true,
  });
}

// ------------------------------------------- network namespaces (root)

const sh = (...args) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] });

/** A namespace `ns` joined to the host by a veth pair on 10.77.N.0/24. */
export function makeNamespace(tag = 0) {
  const n = 1 + ((process.pid + 37 * tag) % 200);
  const ns = `tc-ns-${process.pid}-${tag}`;
  const host = `twh${process.pid % 100000}${tag}`;
  const inner = `twn${process.pid % 100000}${tag}`;
  sh("netns", "add", ns);
  sh("link", "add", host, "type", "veth", "peer", "name", inner);
  sh("link", "set", inner, "netns", ns);
  // No IPv6 link-local addresses: the kernel would add them a second or two
  // after the link comes up, and Chromium on the host aborts the requests
  // in flight then with ERR_NETWORK_CHANGED (a page that never loads).
  sh("link", "set", host, "addrgenmode", "none");
  sh("-n", ns, "link", "set", inner, "addrgenmode", "none");
  sh("addr", "add", `10.77.${n}.1/24`, "dev", host);
  sh("link", "set", host, "up");
  sh("-n", ns, "addr", "add", `10.77.${n}.2/24`, "dev", inner);
  sh("-n", ns, "link", "set", inner, "up");
  sh("-n", ns, "link", "set", "lo", "up");
  return {
    ns,
    server: `10.77.${n}.1`,
    cut: () => sh("link", "set", host, "down"),
    restore: () => sh("link", "set", host, "up"),
    // A token bucket both ways (this kernel has no netem): queues, then
    // drops what exceeds `rate`, as a saturated home uplink does.
    cap: (rate) => {
      const tbf = ["root", "tbf", "rate", rate, "burst", "4kb", "latency", "200ms"];
      execFileSync("tc", ["qdisc", "replace", "dev", host, ...tbf]);
      execFileSync("tc", ["-n", ns, "qdisc", "replace", "dev", inner, ...tbf]);
    },
    uncap: () => {
      execFileSync("tc", ["qdisc", "del", "dev", host, "root"]);
      execFileSync("tc", ["-n", ns, "qdisc", "del", "dev", inner, "root"]);
    },
    // UDP from the namespace goes nowhere (a routing rule, not netfilter,
    // which this kernel lacks): TCP still works.
    blockUdp: () => {
      sh("-n", ns, "rule", "add", "pref", "100", "ipproto", "udp", "lookup", "100");
      sh("-n", ns, "route", "add", "blackhole", "default", "table", "100");
    },
    // A cut the browser cannot see: the link stays up, so Chromium fires
    // no `offline` (as when the box upstream loses its line), but nothing
    // passes between the namespace and the server, either way: routing
    // rules to a blackhole, in the namespace and on the host for its one
    // address. `unsilence` lifts them.
    silence: () => {
      sh("-n", ns, "rule", "add", "pref", "90", "to", `10.77.${n}.1`, "lookup", "90");
      sh("-n", ns, "route", "replace", "blackhole", "default", "table", "90");
      sh("rule", "add", "pref", "90", "to", `10.77.${n}.2`, "lookup", `${1000 + n}`);
      sh("route", "replace", "blackhole", "default", "table", `${1000 + n}`);
    },
    unsilence: () => {
      sh("-n", ns, "rule", "del", "pref", "90", "to", `10.77.${n}.1`, "lookup", "90");
      sh("rule", "del", "pref", "90", "to", `10.77.${n}.2`, "lookup", `${1000 + n}`);
    },
    remove: () => {
      spawnSync("ip", ["rule", "del", "pref", "90", "to", `10.77.${n}.2`, "lookup", `${1000 + n}`]);
      spawnSync("ip", ["route", "del", "blackhole", "default", "table", `${1000 + n}`]);
      spawnSync("ip", ["link", "del", host]);
      spawnSync("ip", ["netns", "del", ns]);
    },
  };
}

/** Chromium started inside `ns`, through a wrapper Playwright can launch. */
export function launchIn(ns) {
  const dir = mkdtempSync(join(tmpdir(), "tc-ns-"));
  const wrapper = join(dir, "chromium-in-ns");
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} /usr/bin/chromium "$@"\n`);
  chmodSync(wrapper, 0o755);
  return launchChromium(wrapper);
}


// ------------------------------------ the web client without the server

const MIME = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
};

/**
 * Serves `web-client/` on 127.0.0.1 (a free port), for the tests of the
 * page's modules that need no teleconsult server. `blobs` maps a path to
 * bytes served as they are; `POST /sha256` answers the SHA-256 (hex) of
 * its body, computed here. Resolves with { url, close() }.
 */
export function serveWebClient(blobs = {}) {
  const dir = join(root, "web-client");
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://localhost").pathname);
    if (req.method === "POST" && path === "/sha256") {
      const hash = createHash("sha256");
      for await (const chunk of req) hash.update(chunk);
      res.writeHead(200, { "content-type": "text/plain" }).end(hash.digest("hex"));
      return;
    }
    if (blobs[path]) {
      res.writeHead(200, { "content-type": "application/octet-stream" }).end(blobs[path]);
      return;
    }
    const file = normalize(join(dir, path));
    if (!file.startsWith(dir + sep) || req.method !== "GET") {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": MIME[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => {
    server.listen(0, "127.0.0.1", () => {
      const url = `http://127.0.0.1:${server.address().port}`;
      ok({ url, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

/**
 * A page of `tests/pages/exchange.html` on `url` with two exchanges, A
 * (participant 1) and B (participant 2), joined by two RTCPeerConnections
 * in the page itself; `options` per side: { maxSize, corruptChunk }.
 */
export async function exchangePage(browser, url, options = {}) {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${url}/tests/pages/exchange.html`);
  await page.waitForFunction(() => window.tc);
  await page.evaluate((o) => window.tc.loopback(o), options);
  return page;
}
