// A téléconsultation in headless Chromium, as people would run it: the
// professional and the patient open their links, the patient checks the
// devices and consents, the professional admits them, both see and hear
// each other, the professional ends the act. Then the trace must verify
// and hold every step.
//
// Needs: `cargo build -p signaling` (the binary), Debian's `chromium`, and
// `npm install` in this folder (playwright-core).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { shots, launchChromium, startDemo, stopDemo, waitHealthy, expectPlaying, verifiedEvents } from "./helpers.mjs";

/**
 * Runs a whole consultation; `variant` is added to both links' query
 * (e.g. `?relay=tcp`) and names the screenshots. Returns the trace's events.
 */
async function consultation(variant) {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const port = 18443 + Math.floor(Math.random() * 1000);
  const { child, links, act } = await startDemo(data, port);
  await waitHealthy(port);
  const link = (l) => l.replace("/join#", `/join${variant}#`);
  const tag = variant ? variant.replace(/\W+/g, "-").replace(/^-|-$/g, "") + "-" : "";
  const browser = await launchChromium();
  try {
    const pro = await browser.newPage();
    const patient = await browser.newPage();
    await pro.goto(link(links.professional));
    await pro.getByRole("button", { name: "Continuer" }).click();
    await patient.goto(link(links.patient));
    await patient.getByRole("button", { name: "Continuer" }).click();
    await patient.getByRole("button", { name: "J'accepte" }).click();
    await patient.getByRole("heading", { name: "Salle d'attente" }).waitFor();
    await patient.screenshot({ path: join(shots, `${tag}1-patient-waiting.png`) });

    await pro.getByRole("button", { name: /Faire entrer/ }).click({ timeout: 10000 });
    const w1 = await expectPlaying(pro, "#remotes video");
    const w2 = await expectPlaying(patient, "#remotes video");
    assert.ok(w1 > 0 && w2 > 0);
    await pro.screenshot({ path: join(shots, `${tag}2-professional-call.png`) });
    await patient.screenshot({ path: join(shots, `${tag}3-patient-call.png`) });

    await pro.getByLabel("Compte rendu").fill("Examen fictif sans particularité.");
    await pro.getByRole("button", { name: "Terminer l'acte" }).click();
    await patient.getByRole("heading", { name: "Consultation terminée" }).waitFor();
    await pro.getByRole("heading", { name: "Consultation terminée" }).waitFor();
    await patient.screenshot({ path: join(shots, `${tag}4-patient-ended.png`) });
  } finally {
    await browser.close();
    await stopDemo(child);
  }

  const events = verifiedEvents(data, act);
  const kinds = events.map((e) => e.kind);
  for (const k of ["requested", "participant_registered", "joined", "consent_given", "admitted", "media_connected", "concluded"]) {
    assert.ok(kinds.includes(k), `trace lacks ${k}: ${kinds}`);
  }
  const phases = events.filter((e) => e.kind === "phase_entered").map((e) => e.event.phase);
  assert.deepEqual(phases, ["preparation", "performance", "conclusion"]);
  for (const e of events) assert.match(e.at, /Z$/);
  const identities = events.filter((e) => e.kind === "participant_registered").map((e) => e.event.identity);
  assert.equal(identities[0].name, "Dr Exemple Démo");
  assert.equal(identities[0].rpps, "10000000009");
  assert.equal(identities[1].type, "patient");
  assert.match(identities[1].alias, /^patient-/);
  const consent = events.find((e) => e.kind === "consent_given").event;
  assert.equal(consent.method.type, "electronic");
  assert.match(consent.method.text_sha256, /^[0-9a-f]{64}$/);
  return events;
}

const routes = (events) => events.filter((e) => e.kind === "media_connected").map((e) => e.event);

test("a téléconsultation from links to verified trace", { timeout: 120000 }, async () => {
  const paths = routes(await consultation(""));
  assert.ok(paths.length >= 1, "no media path recorded");
  assert.ok(paths.every((p) => p.route === "direct"), JSON.stringify(paths));
});

test("the same consultation with the relay forced over TCP", { timeout: 120000 }, async () => {
  const paths = routes(await consultation("?relay=tcp"));
  assert.ok(paths.length >= 1, "no media path recorded");
  for (const p of paths) {
    assert.equal(p.route, "relay", JSON.stringify(paths));
    assert.ok(p.candidate_types.includes("relay"), JSON.stringify(paths));
  }
});
