// A node lost in the middle of a call, in headless Chromium. Two
// `teleconsult serve` processes share the trace on PostgreSQL and act
// ownership on Redis (the servers scripts/services.sh started; their URLs in
// TELECONSULT_TEST_PG and TELECONSULT_TEST_REDIS), behind a TCP load
// balancer of the test's own on loopback, as a platform puts one public
// name in front of its nodes. The patient's page reaches node A, which
// claims the act; the professional's page reaches node B, which forwards it
// to A; both videos play. A is killed with SIGKILL during the performance:
// the balancer sends the pages' reconnections to B, which takes the act
// over once A's lease has expired. Within 15 s both pages are back and play
// video; the trace on PostgreSQL verifies, holds the outage as an incident
// and every event recorded before the kill, unchanged.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bin, expectPlaying, launchChromium, shots } from "./helpers.mjs";

const PG = process.env.TELECONSULT_TEST_PG;
const REDIS = process.env.TELECONSULT_TEST_REDIS;
const BACK_WITHIN_MS = 15000;

/** `teleconsult --data DATA --store STORE ARGS...`, which must succeed. */
function cli(data, store, args) {
  const run = spawnSync(bin, ["--data", data, "--store", store, ...args], { encoding: "utf8" });
  assert.equal(run.status, 0, `teleconsult ${args.join(" ")}: ${run.stdout}${run.stderr}`);
  return run.stdout;
}

/** Runs `sql` on the test PostgreSQL server's maintenance database. */
function psql(sql) {
  const run = spawnSync("psql", [PG, "-v", "ON_ERROR_STOP=1", "-qc", sql], { encoding: "utf8" });
  assert.equal(run.status, 0, `psql: ${run.stderr}`);
}

/**
 * A TCP load balancer on loopback: each new connection goes to the
 * preferred backend, or to the next one that accepts when it does not (a
 * dead node refuses at once). `prefer(i)` changes the preference.
 */
function balancer(ports) {
  let preferred = 0;
  const server = createServer((client) => {
    client.pause();
    const order = [preferred, ...ports.keys()].filter((v, i, a) => a.indexOf(v) === i);
    const tryNext = () => {
      const i = order.shift();
      if (i === undefined) return client.destroy();
      const upstream = connect(ports[i], "127.0.0.1");
      upstream.once("error", () => {
        upstream.destroy();
        if (upstream.bytesWritten === 0) tryNext();
        else client.destroy();
      });
      upstream.once("connect", () => {
        upstream.removeAllListeners("error");
        upstream.on("error", () => client.destroy());
        client.on("error", () => upstream.destroy());
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryNext();
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () =>
      resolve({ port: server.address().port, prefer: (i) => (preferred = i), close: () => server.close() }),
    );
  });
}

/** A free loopback TCP port. */
function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** `teleconsult serve` as a node of the cluster; resolves once healthy. */
async function startNode(data, store, name, port) {
  const child = spawn(
    bin,
    ["--data", data, "--store", store, "serve", "--listen", `127.0.0.1:${port}`, "--insecure-http",
      "--redis", REDIS, "--node-id", name, "--relay-allow-peers", "127.0.0.0/8"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr.on("data", (c) => (log += c));
  child.log = () => log;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`node ${name} exited: ${log}`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`node ${name} never became healthy: ${log}`);
}

test("a node killed mid-call: both pages back on the other node, trace whole", { timeout: 240000 }, async () => {
  assert.ok(PG && REDIS, "TELECONSULT_TEST_PG and TELECONSULT_TEST_REDIS must be set: run `scripts/services.sh up` and load target/services.env");
  const tag = `${process.pid}_${Date.now() % 1e9}`;
  const db = `tc_e2e_${tag}`;
  psql(`CREATE DATABASE ${db}`);
  const store = PG.replace(/\/[^/]*$/, `/${db}`);
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const browsers = [];
  const nodes = [];
  let lb;
  try {
    const [portA, portB] = [await freePort(), await freePort()];
    lb = await balancer([portA, portB]);
    const created = JSON.parse(cli(data, store, [
      "act", "create", "--kind", "teleconsultation", "--professional", "Dr Fictif Requerant",
      "--rpps", "10000000009", "--patient", "dossier-fictif-0042", "--json",
      "--public-url", `http://127.0.0.1:${lb.port}`,
    ]));
    const act = created.id;
    const [nameA, nameB] = [`e2e-a-${tag}`, `e2e-b-${tag}`];
    const a = await startNode(data, store, nameA, portA);
    nodes.push(a);
    const b = await startNode(data, store, nameB, portB);
    nodes.push(b);

    // The patient through A (which claims the act), then the professional
    // through B (forwarded to A).
    const patientBrowser = await launchChromium();
    browsers.push(patientBrowser);
    const proBrowser = await launchChromium();
    browsers.push(proBrowser);
    const patient = await patientBrowser.newPage();
    const pro = await proBrowser.newPage();
    lb.prefer(0);
    await patient.goto(created.links.patient);
    await patient.getByRole("button", { name: "Continuer" }).click();
    await patient.getByRole("button", { name: "J'accepte" }).click();
    lb.prefer(1);
    await pro.goto(created.links.professional);
    await pro.getByRole("button", { name: "Continuer" }).click();
    await pro.getByRole("button", { name: /Faire entrer/ }).click({ timeout: 15000 });
    await expectPlaying(pro, "#remotes video");
    await expectPlaying(patient, "#remotes video");
    const metrics = async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(await metrics(portA), /^teleconsult_lease_held 1$/m, "A owns the act");
    assert.match(await metrics(portB), /^teleconsult_forwarded_connections 1$/m, "B forwards the professional");
    await patient.screenshot({ path: join(shots, "failover-1-patient-on-a.png") });
    await pro.screenshot({ path: join(shots, "failover-2-professional-through-b.png"), fullPage: true });
    const before = JSON.parse(cli(data, store, ["trace", "show", act, "--json"])).events;

    // A dies.
    a.kill("SIGKILL");
    const killedAt = Date.now();
    await new Promise((r) => a.once("exit", r));
    await patient.locator("#banner").filter({ hasText: "reconnexion" }).waitFor({ timeout: 10000 });
    await pro.locator("#banner").filter({ hasText: "reconnexion" }).waitFor({ timeout: 10000 });
    await patient.screenshot({ path: join(shots, "failover-3-patient-reconnecting.png") });
    // Both back, through the balancer, on B.
    await patient.locator("#banner").waitFor({ state: "hidden", timeout: BACK_WITHIN_MS });
    await pro.locator("#banner").waitFor({ state: "hidden", timeout: BACK_WITHIN_MS });
    await pro.locator("#participants li", { hasText: "connecté" }).nth(1).waitFor({ timeout: BACK_WITHIN_MS });
    const backAfter = Date.now() - killedAt;
    assert.ok(backAfter < BACK_WITHIN_MS, `both pages back ${backAfter} ms after the kill`);
    assert.match(await metrics(portB), /^teleconsult_lease_held 1$/m, "B took the act over");
    await expectPlaying(pro, "#remotes video");
    await expectPlaying(patient, "#remotes video");
    await patient.screenshot({ path: join(shots, "failover-4-patient-back-on-b.png") });
    await pro.screenshot({ path: join(shots, "failover-5-professional-back-on-b.png"), fullPage: true });

    await pro.getByLabel("Compte rendu").fill("Examen fictif, poursuivi sur un autre serveur.");
    await pro.getByRole("button", { name: "Terminer l'acte" }).click();
    await pro.getByRole("heading", { name: "Consultation terminée" }).waitFor();

    // The trace on PostgreSQL: verifies; what was recorded before the kill
    // is there unchanged; the outage is an incident per participant.
    cli(data, store, ["trace", "verify"]);
    const after = JSON.parse(cli(data, store, ["trace", "show", act, "--json"])).events;
    assert.deepEqual(after.slice(0, before.length), before, "every event recorded before the kill, unchanged");
    const outages = after.slice(before.length).filter(
      (e) => e.kind === "incident_opened" && e.event.metrics?.server_outage === 1,
    );
    assert.equal(outages.length, 2, JSON.stringify(after.slice(before.length).map((e) => e.kind)));
    const closed = after.filter(
      (e) => e.kind === "incident_closed" && outages.some((o) => o.event.incident === e.event.incident),
    );
    assert.equal(closed.length, 2, "both returns close their outage");
    const seqs = after.map((e) => e.seq);
    assert.ok(seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1), `one chain: ${seqs}`);
    console.log(JSON.stringify({
      back_after_kill_ms: backAfter,
      outage_ms: closed.map((e) => e.event.metrics.outage_ms),
    }));
  } finally {
    for (const br of browsers) await br.close().catch(() => {});
    for (const n of nodes) {
      if (n.exitCode === null && n.signalCode === null) {
        n.kill("SIGTERM");
        await new Promise((r) => n.once("exit", r));
      }
    }
    lb?.close();
    spawnSync("psql", [PG, "-qc", `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`]);
  }
});
