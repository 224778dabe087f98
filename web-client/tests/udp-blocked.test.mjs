// UDP blocked on the patient's side: the call goes through the relay over
// TCP. The patient's Chromium runs in a network namespace the test makes,
// where every UDP packet is routed to a blackhole (a policy-routing rule on
// `ipproto udp`: this kernel has no netfilter or tc filters). The
// connection test says so path by path, the call still connects (media
// plays both ways), and the trace records a relayed media path for the
// patient. Needs root.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectPlaying, launchChromium, launchIn, makeNamespace, shots, startDemo, stopDemo, verifiedEvents } from "./helpers.mjs";

test("UDP blocked: the test shows it, the call goes through the TCP relay", { timeout: 150000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const port = 22443 + Math.floor(Math.random() * 1000);
  let net;
  try {
    net = makeNamespace(1);
  } catch (e) {
    assert.fail(`this test needs root to make a network namespace: ${e.stderr ?? e}`);
  }
  net.blockUdp();
  const { child, links, act } = await startDemo(data, port, { host: net.server, extra: ["--relay-port", "0"] });
  const proBrowser = await launchChromium();
  const patientBrowser = await launchIn(net.ns);
  try {
    const pro = await proBrowser.newPage();
    const patient = await patientBrowser.newPage();
    await pro.goto(links.professional);
    await pro.getByRole("button", { name: "Continuer" }).click();
    await patient.goto(links.patient);
    // The connection test: no UDP path works, TCP and TLS through the relay do.
    await patient.waitForFunction(
      () => ["good", "limited", "failed"].includes(document.querySelector("#nettest-summary")?.dataset.verdict),
      null,
      { timeout: 90000 },
    );
    const statuses = await patient.$$eval("#nettest-rows tr", (trs) =>
      Object.fromEntries(trs.map((tr) => [tr.dataset.path, tr.dataset.status])),
    );
    assert.equal(statuses.direct, "failed", JSON.stringify(statuses));
    assert.equal(statuses.relay_udp, "failed", JSON.stringify(statuses));
    assert.equal(statuses.relay_tcp, "ok", JSON.stringify(statuses));
    await patient.locator("#nettest-details summary").click();
    await patient.screenshot({ path: join(shots, "udp-blocked-1-connection-test.png"), fullPage: true });

    await patient.getByRole("button", { name: "Continuer" }).click();
    await patient.getByRole("button", { name: "J'accepte" }).click();
    await pro.getByRole("button", { name: /Faire entrer/ }).click({ timeout: 15000 });
    await expectPlaying(pro, "#remotes video");
    await expectPlaying(patient, "#remotes video");
    await patient.screenshot({ path: join(shots, "udp-blocked-2-patient-call.png") });
    await pro.getByLabel("Compte rendu").fill("Examen fictif par le relais TCP.");
    await pro.getByRole("button", { name: "Terminer l'acte" }).click();
    await pro.getByRole("heading", { name: "Consultation terminée" }).waitFor();
  } finally {
    await proBrowser.close();
    await patientBrowser.close();
    await stopDemo(child);
    net.remove();
  }
  const events = verifiedEvents(data, act);
  const test = events.find((e) => e.kind === "connection_tested" && e.event.participant === 2).event;
  assert.deepEqual(
    Object.fromEntries(test.paths.map((p) => [p.path, p.status])),
    { direct: "failed", relay_udp: "failed", relay_tcp: "ok", relay_tls: "ok" },
  );
  const paths = events.filter((e) => e.kind === "media_connected").map((e) => e.event);
  const patientPath = paths.find((p) => p.participant === 2);
  assert.ok(patientPath, JSON.stringify(paths));
  assert.equal(patientPath.route, "relay", JSON.stringify(patientPath));
  assert.ok(patientPath.candidate_types.includes("relay"), JSON.stringify(patientPath));
});
