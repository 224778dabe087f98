// A transfer cancelled midway (exchange.js, no server), by the sender and
// then by the receiver: both ends stop, the one who cancelled reports
// `cancelled`, no file is delivered, and a file shared afterwards on the
// same channel arrives whole (the cancelled transfer's chunks still in
// flight are not mixed into it).
//
// Needs: Debian's `chromium`, and `npm ci` in this folder (playwright-core).
import { test } from "node:test";
import assert from "node:assert/strict";
import { exchangePage, launchChromium, serveWebClient } from "./helpers.mjs";

const MIB = 1024 * 1024;

test("cancel from either side stops both sides", async () => {
  const server = await serveWebClient();
  const browser = await launchChromium();
  try {
    const page = await exchangePage(browser, server.url);
    const big = await page.evaluate(() => tc.makeBlob(64));
    const small = await page.evaluate(() => tc.makeBlob(1));
    const finalState = async (side, id) => {
      await page.waitForFunction(([s, id]) => ["done", "cancelled", "failed"].includes(tc.sides[s].outgoing[id].handle.state), [side, id]);
      return (await page.evaluate((s) => tc.view(s), side)).outgoing[id];
    };
    const incomingOf = async (id) => {
      await page.waitForFunction((id) => tc.sides.B.incoming.find((i) => i.id === id)?.states.length > 0, id);
      return (await page.evaluate(() => tc.view("B"))).incoming.find((i) => i.id === id);
    };
    const arrivesWhole = async () => {
      const id = await page.evaluate((k) => tc.share("A", k, "suite.bin"), small);
      await page.waitForFunction((id) => tc.sides.B.files.some((f) => f.id === id), id);
      const file = (await page.evaluate(() => tc.view("B"))).files.find((f) => f.id === id);
      assert.equal(file.ok, true, "the next file arrives whole");
      assert.equal(file.size, MIB);
    };

    // The sender cancels once the receiver has its first MiB.
    await page.evaluate(() => tc.arm("B", "sender-cancel"));
    const first = await page.evaluate((k) => tc.share("A", k, "coupes.bin"), big);
    const out1 = await finalState("A", first);
    assert.equal(out1.state, "cancelled");
    assert.equal(out1.reason, "self");
    assert.ok(out1.sent < 64 * MIB, `the sender stopped (${out1.sent} bytes sent)`);
    const in1 = await incomingOf(first);
    assert.deepEqual(in1.states.map((s) => [s.state, s.reason]), [["cancelled", "peer"]]);
    await arrivesWhole();

    // The receiver cancels once it has its first MiB.
    await page.evaluate(() => tc.arm("B", "receiver-cancel"));
    const second = await page.evaluate((k) => tc.share("A", k, "coupes.bin"), big);
    const out2 = await finalState("A", second);
    assert.equal(out2.state, "cancelled");
    assert.equal(out2.reason, "peer");
    assert.ok(out2.sent < 64 * MIB, `the sender stopped (${out2.sent} bytes sent)`);
    const in2 = await incomingOf(second);
    assert.deepEqual(in2.states.map((s) => [s.state, s.reason]), [["cancelled", "self"]]);
    await arrivesWhole();

    const a = await page.evaluate(() => tc.view("A"));
    const b = await page.evaluate(() => tc.view("B"));
    assert.ok(!b.files.some((f) => f.id === first || f.id === second), "no cancelled file is delivered");
    const states = (reports, id) => reports.filter((r) => r.share === id).map((r) => r.state);
    assert.deepEqual(states(a.reports, first), ["offered", "cancelled"], "the sender reports its cancel");
    assert.deepEqual(states(b.reports, first), []);
    assert.deepEqual(states(a.reports, second), ["offered"]);
    assert.deepEqual(states(b.reports, second), ["cancelled"], "the receiver reports its cancel");
    assert.deepEqual(b.reports.find((r) => r.state === "cancelled"), { type: "share", share: second, state: "cancelled" });
    assert.deepEqual([...a.errors, ...b.errors], []);
  } finally {
    await browser.close();
    await server.close();
  }
});
