// Two files shared at once by one participant while the other shares one
// back (exchange.js, no server): each way, transfers are queued, not
// multiplexed, so the second file starts only once the first is sent; both
// ways run at the same time; all three arrive whole, in order.
//
// Needs: Debian's `chromium`, and `npm ci` in this folder (playwright-core).
import { test } from "node:test";
import assert from "node:assert/strict";
import { exchangePage, launchChromium, serveWebClient } from "./helpers.mjs";

test("two transfers at once are queued, both directions run together", async () => {
  const server = await serveWebClient();
  const browser = await launchChromium();
  try {
    const page = await exchangePage(browser, server.url);
    const [f1, f2, f3] = await page.evaluate(() => {
      const [k1, k2, k3] = [tc.makeBlob(16), tc.makeBlob(4), tc.makeBlob(2)];
      return [tc.share("A", k1, "un.bin"), tc.share("A", k2, "deux.bin"), tc.share("B", k3, "trois.bin")];
    });
    await page.waitForFunction(([f1, f2, f3]) =>
      tc.sides.B.files.some((f) => f.id === f1) && tc.sides.B.files.some((f) => f.id === f2) &&
      tc.sides.A.files.some((f) => f.id === f3), [f1, f2, f3], { timeout: 30000 });
    const a = await page.evaluate(() => tc.view("A"));
    const b = await page.evaluate(() => tc.view("B"));

    const seqOf = (rec, state) => rec.states.find((s) => s.state === state).seq;
    assert.ok(seqOf(a.outgoing[f2], "sending") > seqOf(a.outgoing[f1], "done"), "the second share waits for the first");
    assert.deepEqual(a.outgoing[f2].states.map((s) => s.state), ["queued", "sending", "done"]);
    assert.deepEqual(b.files.map((f) => [f.id, f.ok, f.size]), [[f1, true, 16 << 20], [f2, true, 4 << 20]]);
    assert.deepEqual(a.files.map((f) => [f.id, f.ok, f.size]), [[f3, true, 2 << 20]]);
    assert.equal(b.files[0].digest, a.outgoing[f1].digest);
    assert.equal(b.files[1].digest, a.outgoing[f2].digest);
    assert.equal(a.files[0].digest, b.outgoing[f3].digest);
    // Both ways at once: B's share was under way before A's second one began.
    assert.ok(seqOf(b.outgoing[f3], "sending") < seqOf(a.outgoing[f2], "sending"));
    assert.deepEqual([...a.errors, ...b.errors], []);
  } finally {
    await browser.close();
    await server.close();
  }
});
