// Bandwidth capped at 200 kbit/s, in headless Chromium: the patient's
// browser runs in a network namespace made by the test (a wrapper runs
// Chromium under `ip netns exec`), joined to the server's by a veth pair;
// the professional's browser and the server stay in the root namespace.
// Mid-call the veth is capped both ways with `tc ... tbf rate 200kbit`: the
// patient's page falls back to audio only on its own, then returns to
// video once the cap is lifted. The trace holds both automatic mode
// changes and verifies. (The professional's page, on the other end of the
// same capped link, may drop its video too.) Needs root and iproute2 (CI runs as root).
//
// This kernel has no netem, so the cap is a token bucket (tbf), which
// queues then drops what exceeds the rate: what a saturated uplink does.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { shots, launchChromium, startDemo, stopDemo, waitHealthy, expectPlaying, verifiedEvents } from "./helpers.mjs";

const pid = process.pid;
const ns = `tcbw${pid}`;
const hostIf = `tcbh${pid % 100000}`;
const nsIf = `tcbn${pid % 100000}`;
const hostIp = `10.210.${pid % 250}.1`;
const nsIp = `10.210.${pid % 250}.2`;

function sh(...args) {
  const r = spawnSync(args[0], args.slice(1), { encoding: "utf8" });
  assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
}
function inNs(...args) {
  sh("ip", "netns", "exec", ns, ...args);
}
function makeNamespace() {
  spawnSync("ip", ["netns", "del", ns]);
  sh("ip", "netns", "add", ns);
  sh("ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf);
  sh("ip", "link", "set", nsIf, "netns", ns);
  sh("ip", "addr", "add", `${hostIp}/24`, "dev", hostIf);
  sh("ip", "link", "set", hostIf, "up");
  inNs("ip", "link", "set", "lo", "up");
  inNs("ip", "addr", "add", `${nsIp}/24`, "dev", nsIf);
  inNs("ip", "link", "set", nsIf, "up");
}
const tbf = ["root", "tbf", "rate", "200kbit", "burst", "4kb", "latency", "200ms"];
function cap() {
  sh("tc", "qdisc", "replace", "dev", hostIf, ...tbf);
  inNs("tc", "qdisc", "replace", "dev", nsIf, ...tbf);
}
function uncap() {
  sh("tc", "qdisc", "del", "dev", hostIf, "root");
  inNs("tc", "qdisc", "del", "dev", nsIf, "root");
}
after(() => spawnSync("ip", ["netns", "del", ns]));

test("a 200 kbit/s cap drops the patient to audio only, and video comes back", { timeout: 180000 }, async () => {
  makeNamespace();
  const wrapper = join(mkdtempSync(join(tmpdir(), "tc-ns-")), "chromium-in-ns");
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} /usr/bin/chromium "$@"\n`, { mode: 0o755 });
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-bw-"));
  const port = 20443 + Math.floor(Math.random() * 1000);
  const { child, links, act } = await startDemo(data, port, { host: hostIp, extra: ["--no-relay"] });
  await waitHealthy(port, hostIp);
  const proBrowser = await launchChromium();
  const patientBrowser = await launchChromium(wrapper);
  let changes;
  try {
    const pro = await proBrowser.newPage();
    const patient = await patientBrowser.newPage();
    await pro.goto(links.professional);
    await pro.getByRole("button", { name: "Continuer" }).click();
    await patient.goto(links.patient);
    await patient.getByRole("button", { name: "Continuer" }).click();
    await patient.getByRole("button", { name: "J'accepte" }).click();
    await pro.getByRole("button", { name: /Faire entrer/ }).click({ timeout: 15000 });
    await expectPlaying(pro, "#remotes video");
    await expectPlaying(patient, "#remotes video");

    const capped = Date.now();
    cap();
    await patient.getByText("Vidéo coupée pour préserver le son (connexion faible).").waitFor({ timeout: 40000 });
    const toAudio = (Date.now() - capped) / 1000;
    await patient.screenshot({ path: join(shots, "bw-1-patient-audio-only.png") });
    const lifted = Date.now();
    uncap();
    await patient.getByRole("button", { name: "Audio seulement" }).waitFor({ timeout: 60000 });
    const toVideo = (Date.now() - lifted) / 1000;
    await expectPlaying(pro, "#remotes video");
    await pro.screenshot({ path: join(shots, "bw-2-professional-video-back.png"), fullPage: true });
    console.log(`audio only ${toAudio.toFixed(1)} s after the cap; video back ${toVideo.toFixed(1)} s after lifting it`);
    // Hysteresis: 3 bad reports 2 s apart to drop video, 5 good to return.
    assert.ok(toAudio >= 4, `dropped video after ${toAudio} s, sooner than 3 reports`);
    assert.ok(toVideo >= 8, `restored video after ${toVideo} s, sooner than 5 reports`);

    await pro.getByLabel("Compte rendu").fill("Examen fictif, liaison limitée.");
    await pro.getByRole("button", { name: "Terminer l'acte" }).click();
    await pro.getByRole("heading", { name: "Consultation terminée" }).waitFor();
  } finally {
    await proBrowser.close();
    await patientBrowser.close();
    await stopDemo(child);
  }

  const events = verifiedEvents(data, act);
  changes = events.filter((e) => e.kind === "mode_changed").map((e) => [e.event.participant, e.event.mode, e.event.cause]);
  // The professional's side judges the same capped link and may drop
  // its own video too; the patient's changes are the ones checked.
  const patientChanges = changes.filter(([p]) => p === 2).map(([, mode, cause]) => [mode, cause]);
  assert.deepEqual(patientChanges.slice(0, 2), [["audio_only", "automatic"], ["video", "automatic"]]);
  assert.ok(changes.every(([, , cause]) => cause === "automatic"));
  const incidents = events.filter((e) => e.kind === "incident_opened").map((e) => e.event.kind);
  console.log(`mode changes: ${JSON.stringify(changes)}; incidents opened: ${JSON.stringify(incidents)}`);
});
