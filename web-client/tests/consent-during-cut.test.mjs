// A consent pressed while the patient's link is cut is not lost (issue 12,
// point 9). The patient's browser runs in a network namespace the test
// makes; on the consent screen the test cuts the link in a way the browser
// cannot see (the interface stays up, routing rules drop everything to and
// from the server: no `offline` event, as when the box upstream loses its
// line) and presses « J'accepte » at once, in the seconds before the page
// notices the cut. Then the page notices (heartbeat), says the consent is
// not received yet and keeps the buttons waiting; the link comes back,
// the page reconnects with the same token and sends the consent again; the
// patient reaches the waiting room, is admitted, the call runs, and the
// trace holds exactly one consent, given after the return.
//
// Before the fix, `send()` dropped the frame into the dead socket, the
// button stayed active and the patient sat on the consent screen after the
// return, untold.
//
// Needs root (network namespaces); without it the test fails, saying so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectPlaying, launchChromium, launchIn, makeNamespace, shots, startDemo, stopDemo, verifiedEvents } from "./helpers.mjs";

test("a consent pressed during a cut is recorded once after the return", { timeout: 180000 }, async () => {
  let net;
  try {
    net = makeNamespace(3);
  } catch (e) {
    assert.fail(`this test needs root to make a network namespace: ${e.stderr ?? e}`);
  }
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const port = 23443 + Math.floor(Math.random() * 1000);
  let demo;
  const browsers = [];
  try {
    demo = await startDemo(data, port, { host: net.server, extra: ["--relay-port", "0"] });
    const { links, act } = demo;
    const proBrowser = await launchChromium();
    browsers.push(proBrowser);
    const patientBrowser = await launchIn(net.ns);
    browsers.push(patientBrowser);
    const pro = await proBrowser.newPage();
    const patient = await patientBrowser.newPage();
    await pro.goto(links.professional);
    await pro.getByRole("button", { name: "Continuer" }).click();
    await patient.goto(links.patient);
    await patient.getByRole("button", { name: "Continuer" }).click();
    const accept = patient.getByRole("button", { name: "J'accepte" });
    await accept.waitFor({ timeout: 15000 });
    // The consent screen is shown once the page is connected: the button
    // is enabled then.
    await patient.waitForFunction(() => !document.getElementById("consent-accept").disabled, null, { timeout: 15000 });

    // Cut, and press at once: the page has not noticed the cut.
    const cutAt = Date.now();
    net.silence();
    await accept.click({ timeout: 2000 });
    const noticed = await patient.evaluate(() => !document.getElementById("banner").hidden);
    assert.ok(!noticed, "the press happened before the page noticed the cut");
    // The press is taken: the buttons wait instead of staying active.
    await patient.waitForFunction(() => document.getElementById("consent-accept").disabled, null, { timeout: 5000 });
    await patient.screenshot({ path: join(shots, "consent-cut-1-pressed.png") });

    // The page notices the cut and says the consent is not received yet.
    await patient.locator("#banner").filter({ hasText: "reconnexion" }).waitFor({ timeout: 15000 });
    await patient.locator("#consent-wait").filter({ hasText: "pas encore reçu" }).waitFor({ timeout: 5000 });
    assert.ok(await accept.isDisabled(), "the consent buttons wait while the link is down");
    assert.ok(await patient.getByRole("button", { name: "Je refuse" }).isDisabled());
    await patient.screenshot({ path: join(shots, "consent-cut-2-kept-while-down.png") });
    // Long enough for the server to take the connection as lost (6 s of
    // silence), so the frame on the old socket can never arrive.
    await pro.locator("#participants li", { hasText: "reconnexion" }).waitFor({ timeout: 15000 });
    const wait = 10000 - (Date.now() - cutAt);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    net.unsilence();

    // After the return the consent is sent again and recorded: the patient
    // reaches the waiting room, is admitted, and the call runs.
    await patient.getByRole("heading", { name: "Salle d'attente" }).waitFor({ timeout: 40000 });
    await patient.screenshot({ path: join(shots, "consent-cut-3-waiting-after-return.png") });
    await pro.getByRole("button", { name: /Faire entrer/ }).click({ timeout: 15000 });
    await expectPlaying(pro, "#remotes video");
    await expectPlaying(patient, "#remotes video");
    await patient.screenshot({ path: join(shots, "consent-cut-4-call.png") });

    await pro.getByLabel("Compte rendu").fill("Examen fictif, consentement donné pendant une coupure.");
    await pro.getByRole("button", { name: "Terminer l'acte" }).click();
    await pro.getByRole("heading", { name: "Consultation terminée" }).waitFor();

    const events = verifiedEvents(data, act);
    const consents = events.filter((e) => e.kind === "consent_given");
    assert.equal(consents.length, 1, JSON.stringify(consents));
    assert.equal(consents[0].event.given_by, 2);
    const joins = events.filter((e) => e.kind === "joined" && e.event.participant === 2);
    assert.ok(joins.length >= 2, "the patient rejoined");
    assert.ok(consents[0].seq > joins[joins.length - 1].seq, "the consent was recorded after the return");
    assert.ok(events.some((e) => e.kind === "concluded"));
  } finally {
    for (const b of browsers) await b.close().catch(() => {});
    if (demo) await stopDemo(demo.child).catch(() => {});
    net.remove();
  }
});
