// The pre-call connection test in headless Chromium: the patient's device
// screen tests each path to the server's test peer (direct, and through the
// relay over UDP, TCP and TLS), says in plain words what the call can do,
// shows the figures for support staff, and the result is in the trace with
// the server's verdict, which the professional sees beside the patient.
// On a server without a relay, the relay paths are reported as not offered.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bin, launchChromium, shots, startDemo, waitHealthy } from "./helpers.mjs";

/** Opens the patient's link, waits for the test's verdict; returns the rows. */
async function runTest(page, link, shot) {
  await page.goto(link);
  const summary = page.locator("#nettest-summary");
  await page.waitForFunction(
    () => ["good", "limited", "failed", "error"].includes(document.querySelector("#nettest-summary")?.dataset.verdict),
    null,
    { timeout: 60000 },
  );
  await page.locator("#nettest-details summary").click();
  await page.screenshot({ path: join(shots, shot), fullPage: true });
  const rows = await page.$$eval("#nettest-rows tr", (trs) =>
    trs.map((tr) => ({ path: tr.dataset.path, status: tr.dataset.status, cells: [...tr.cells].map((c) => c.textContent) })),
  );
  return { verdict: await summary.getAttribute("data-verdict"), text: await summary.textContent(), rows };
}

function traceTests(data, act) {
  const verify = spawnSync(bin, ["--data", data, "trace", "verify"], { encoding: "utf8" });
  assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  const show = spawnSync(bin, ["--data", data, "trace", "show", act, "--json"], { encoding: "utf8" });
  assert.equal(show.status, 0, show.stderr);
  const text = spawnSync(bin, ["--data", data, "trace", "show", act], { encoding: "utf8" }).stdout;
  return { tests: JSON.parse(show.stdout).events.filter((e) => e.kind === "connection_tested").map((e) => e.event), text };
}

test("the patient's connection test tries every path and is recorded", { timeout: 120000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const port = 19443 + Math.floor(Math.random() * 1000);
  const { child, links, act } = await startDemo(data, port);
  await waitHealthy(port);
  const browser = await launchChromium();
  try {
    const patient = await browser.newPage();
    const result = await runTest(patient, links.patient, "precall-1-patient-test.png");
    const byPath = Object.fromEntries(result.rows.map((r) => [r.path, r]));
    assert.deepEqual(Object.keys(byPath).sort(), ["direct", "relay_tcp", "relay_tls", "relay_udp"], JSON.stringify(result.rows));
    // On loopback every path works (Chromium accepts the self-signed
    // certificate of the relay's TLS listener with --ignore-certificate-errors).
    for (const p of ["direct", "relay_udp", "relay_tcp", "relay_tls"]) {
      assert.equal(byPath[p].status, "ok", JSON.stringify(byPath[p]));
      assert.match(byPath[p].cells[2], /^\d+(\.\d+)? ms$/, "a round trip is shown");
    }
    assert.equal(result.verdict, "good", result.text);
    assert.match(result.text, /vidéo/);

    // The professional sees the patient's network beside their name.
    const pro = await browser.newPage();
    await pro.goto(links.professional);
    await pro.getByRole("button", { name: "Continuer" }).click();
    await pro.locator('#participants li[data-connection="good"]').waitFor({ timeout: 10000 });
    await pro.screenshot({ path: join(shots, "precall-2-professional-panel.png"), fullPage: true });
  } finally {
    await browser.close();
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
  const { tests, text } = traceTests(data, act);
  // The patient's test, and the professional's own (they see the device screen too).
  const patientTest = tests.find((t) => t.participant === 2);
  assert.ok(patientTest, JSON.stringify(tests));
  assert.equal(patientTest.verdict, "good");
  const direct = patientTest.paths.find((p) => p.path === "direct");
  assert.equal(direct.status, "ok");
  assert.ok(direct.rtt_ms >= 0 && direct.rtt_ms < 1000, JSON.stringify(direct));
  assert.ok(direct.upload_kbps > 300, `upload on loopback: ${JSON.stringify(direct)}`);
  assert.match(text, /connection_tested\s+participant=2 verdict=good direct=ok\(/);
});

test("without a relay, the relay paths are reported as not offered", { timeout: 120000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const port = 20443 + Math.floor(Math.random() * 1000);
  const { child, links, act } = await startDemo(data, port, { extra: ["--no-relay"] });
  await waitHealthy(port);
  const browser = await launchChromium();
  try {
    const patient = await browser.newPage();
    const result = await runTest(patient, links.patient, "precall-3-no-relay.png");
    const statuses = Object.fromEntries(result.rows.map((r) => [r.path, r.status]));
    assert.deepEqual(statuses, { direct: "ok", relay_udp: "unavailable", relay_tcp: "unavailable", relay_tls: "unavailable" });
  } finally {
    await browser.close();
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
  const { tests } = traceTests(data, act);
  assert.equal(tests.length, 1);
  assert.deepEqual(tests[0].paths.map((p) => p.status), ["ok", "unavailable", "unavailable", "unavailable"]);
});
