// A peer leaves in the middle of a transfer (exchange.js, no server): the
// receiver's connection closes, then, on a fresh pair, the sender's. The
// end that stays sees the transfer end as `peer_left` (the sender stops and
// reports the share cancelled; the receiver drops what it had), and no file
// is delivered.
//
// Needs: Debian's `chromium`, and `npm ci` in this folder (playwright-core).
import { test } from "node:test";
import assert from "node:assert/strict";
import { exchangePage, launchChromium, serveWebClient } from "./helpers.mjs";

test("a peer leaving mid-transfer ends it at both ends", async () => {
  const server = await serveWebClient();
  const browser = await launchChromium();
  try {
    // The receiver leaves.
    let page = await exchangePage(browser, server.url);
    await page.evaluate(() => tc.arm("B", "receiver-leaves"));
    let id = await page.evaluate(() => tc.share("A", tc.makeBlob(64), "irm.bin"));
    await page.waitForFunction((id) => tc.sides.A.outgoing[id].handle.state === "cancelled", id, { timeout: 20000 });
    let a = await page.evaluate(() => tc.view("A"));
    let b = await page.evaluate(() => tc.view("B"));
    assert.equal(a.outgoing[id].reason, "peer_left");
    assert.ok(a.outgoing[id].sent < 64 * 1024 * 1024);
    assert.deepEqual(a.closed, [{ peer: 2, reason: "peer_left" }]);
    assert.deepEqual(a.reports.map((r) => r.state), ["offered", "cancelled"], "the sender says the share did not happen");
    assert.deepEqual(b.incoming[0].states.map((s) => [s.state, s.reason]), [["cancelled", "peer_left"]]);
    assert.deepEqual(b.files, []);
    assert.deepEqual(b.reports, []);
    assert.deepEqual(await page.evaluate(() => tc.share("A", tc.makeBlob(1), "x.bin")), { error: "no_peer" });
    await page.close();

    // The sender leaves.
    page = await exchangePage(browser, server.url);
    await page.evaluate(() => tc.arm("B", "sender-leaves"));
    id = await page.evaluate(() => tc.share("A", tc.makeBlob(64), "irm.bin"));
    await page.waitForFunction(() => tc.sides.B.incoming[0]?.states.length > 0, null, { timeout: 20000 });
    await page.waitForFunction(() => tc.sides.B.closed.length > 0);
    b = await page.evaluate(() => tc.view("B"));
    a = await page.evaluate(() => tc.view("A"));
    assert.deepEqual(b.incoming[0].states.map((s) => [s.state, s.reason]), [["cancelled", "peer_left"]]);
    assert.deepEqual(b.closed, [{ peer: 1, reason: "peer_left" }]);
    assert.deepEqual(b.files, []);
    assert.deepEqual(b.reports, []);
    assert.equal(a.outgoing[id].state, "cancelled");
    assert.deepEqual(await page.evaluate(() => tc.chat("B", "encore là ?")), { error: "no_peer" });
  } finally {
    await browser.close();
    await server.close();
  }
});
