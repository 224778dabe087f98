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
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { shots, launchChromium, launchIn, makeNamespace, startDemo, stopDemo, waitHealthy, expectPlaying, verifiedEvents } from "./helpers.mjs";

test("a 200 kbit/s cap drops the patient to audio only, and video comes back", { timeout: 180000 }, async (t) => {
  const net = makeNamespace(2);
  t.after(() => net.remove());
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-bw-"));
  const port = 20443 + Math.floor(Math.random() * 1000);
  const { child, links, act } = await startDemo(data, port, { host: net.server, extra: ["--no-relay"] });
  await waitHealthy(port, net.server);
  const proBrowser = await launchChromium();
  const patientBrowser = await launchIn(net.ns);
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
    net.cap("200kbit");
    await patient.getByText("Vidéo coupée pour préserver le son (connexion faible).").waitFor({ timeout: 40000 });
    const toAudio = (Date.now() - capped) / 1000;
    await patient.screenshot({ path: join(shots, "bw-1-patient-audio-only.png") });
    const lifted = Date.now();
    net.uncap();
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
