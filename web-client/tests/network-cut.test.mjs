// A network cut in the middle of a call, in headless Chromium. The
// patient's browser runs in a network namespace the test makes (`ip netns`,
// a veth pair), so the cut is real: the test takes the link down, which
// stops the WebSocket and the media alike (Chromium's offline emulation
// would leave WebRTC's UDP untouched). The patient's page shows the
// reconnecting banner, the professional's lists the patient as
// reconnecting; when the link is back the page reconnects with the same
// token, ICE is restarted, video plays again, and the trace holds the
// disconnection as one incident with its duration.
//
// Needs root (network namespaces); without it the test fails, saying so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bin, expectPlaying, launchChromium, launchIn, makeNamespace, shots, startDemo } from "./helpers.mjs";

test("a cut network: banner, reconnection, call resumed, incident traced", { timeout: 180000 }, async () => {
  let net;
  try {
    net = makeNamespace();
  } catch (e) {
    assert.fail(`this test needs root to make a network namespace: ${e.stderr ?? e}`);
  }
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const port = 21443 + Math.floor(Math.random() * 1000);
  let demo;
  let resumedAfter;
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
    await patient.getByRole("button", { name: "J'accepte" }).click();
    await pro.getByRole("button", { name: /Faire entrer/ }).click({ timeout: 15000 });
    await expectPlaying(pro, "#remotes video");
    await expectPlaying(patient, "#remotes video");

    // Cut the patient's network for 10 s.
    const cutAt = Date.now();
    net.cut();
    await patient.locator("#banner").filter({ hasText: "reconnexion" }).waitFor({ timeout: 15000 });
    await pro.locator("#participants li", { hasText: "reconnexion" }).waitFor({ timeout: 15000 });
    // The quality line says the link is cut, not the last RTT's grade.
    await patient.locator("#quality", { hasText: "coupée" }).waitFor({ timeout: 5000 });
    await patient.screenshot({ path: join(shots, "cut-1-patient-reconnecting.png") });
    await pro.screenshot({ path: join(shots, "cut-2-professional-sees-reconnecting.png"), fullPage: true });
    const wait = 10000 - (Date.now() - cutAt);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    net.restore();
    const restoredAt = Date.now();

    // The call resumes: the banner goes, and video plays again both ways.
    await patient.locator("#banner").waitFor({ state: "hidden", timeout: 30000 });
    await pro.locator("#participants li", { hasText: "connecté" }).nth(1).waitFor({ timeout: 30000 });
    await expectPlaying(pro, "#remotes video");
    await expectPlaying(patient, "#remotes video");
    resumedAfter = Date.now() - restoredAt;
    await patient.locator("#quality", { hasText: /bonne|moyenne|faible/ }).waitFor({ timeout: 10000 });
    await patient.screenshot({ path: join(shots, "cut-3-patient-resumed.png") });
    await pro.screenshot({ path: join(shots, "cut-4-professional-resumed.png"), fullPage: true });
    assert.ok(resumedAfter < 30000, `resumed ${resumedAfter} ms after the network came back`);

    await pro.getByLabel("Compte rendu").fill("Examen fictif, interrompu par une coupure réseau.");
    await pro.getByRole("button", { name: "Terminer l'acte" }).click();
    await pro.getByRole("heading", { name: "Consultation terminée" }).waitFor();

    // The trace: one disconnection incident for the patient, closed, with
    // a duration below the cut (the server notices after its idle timeout).
    const verify = spawnSync(bin, ["--data", data, "trace", "verify"], { encoding: "utf8" });
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    const show = spawnSync(bin, ["--data", data, "trace", "show", act, "--json"], { encoding: "utf8" });
    const events = JSON.parse(show.stdout).events;
    const opened = events.filter((e) => e.kind === "incident_opened" && e.event.kind === "signaling_disconnected");
    assert.equal(opened.length, 1, JSON.stringify(opened));
    assert.equal(opened[0].event.participant, 2);
    const closed = events.find((e) => e.kind === "incident_closed" && e.event.incident === opened[0].event.incident);
    assert.ok(closed, "the incident is closed by the return");
    const d = closed.event.duration_ms;
    const outage = closed.event.metrics.outage_ms;
    console.log(JSON.stringify({ cut_ms: 10000, incident_ms: d, outage_ms: outage, resumed_after_restore_ms: resumedAfter }));
    // From the last frame heard (at most a 2 s ping before the cut) to the
    // return (after the restore): the cut, within the reconnection time.
    assert.ok(outage >= 8000 && outage <= 10000 + resumedAfter + 2500, `outage ${outage} ms for a 10 s cut`);
    assert.ok(d > 2000 && d < 12000, `disconnection lasted ${d} ms for a 10 s cut`);
    assert.ok(!events.some((e) => e.kind === "interrupted"), "a 10 s cut does not interrupt the act");
    assert.ok(events.filter((e) => e.kind === "joined" && e.event.participant === 2).length >= 2, "the patient rejoined");
  } finally {
    for (const b of browsers) await b.close().catch(() => {});
    if (demo) {
      demo.child.kill("SIGTERM");
      await new Promise((r) => demo.child.once("exit", r));
    }
    net.remove();
  }
});
