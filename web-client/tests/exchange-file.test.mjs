// A 20 MiB file shared over the files data channel between two peer
// connections in one page (exchange.js, no server): it arrives whole, its
// SHA-256 equals the one computed here from the same bytes at every step
// (the sender's offer, the receiver's check, the bytes received), progress
// climbs to 100 % both ends, and the reports carry only the digest, size,
// type and name.
//
// Needs: Debian's `chromium`, and `npm ci` in this folder (playwright-core).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { exchangePage, launchChromium, serveWebClient } from "./helpers.mjs";

const increasing = (xs) => xs.every((x, i) => i === 0 || x > xs[i - 1]);

test("a 20 MiB file arrives with a matching SHA-256", async () => {
  const bytes = randomBytes(20 * 1024 * 1024);
  const sha = createHash("sha256").update(bytes).digest("hex");
  const server = await serveWebClient({ "/blob/20m": bytes });
  const browser = await launchChromium();
  try {
    const page = await exchangePage(browser, server.url);
    const key = await page.evaluate(() => tc.fetchBlob("/blob/20m"));
    const id = await page.evaluate((k) => tc.share("A", k, "scanner/série 1.bin"), key);
    await page.waitForFunction((id) => tc.sides.B.files.some((f) => f.id === id), id, { timeout: 60000 });
    await page.waitForFunction((id) => tc.sides.A.outgoing[id].handle.state === "done", id);

    const a = await page.evaluate(() => tc.view("A"));
    const b = await page.evaluate(() => tc.view("B"));
    const out = a.outgoing[id];
    assert.equal(out.digest, sha);
    assert.deepEqual(out.states.map((s) => s.state), ["queued", "sending", "done"]);
    assert.ok(increasing(out.fractions), `sender progress ${out.fractions}`);
    assert.equal(out.fractions.at(-1), 1);
    assert.ok(out.fractions.length >= 10, "progress is told along the way");

    const [inc] = b.incoming;
    assert.equal(inc.id, id);
    assert.equal(inc.name, "série 1.bin", "directories are stripped");
    assert.ok(increasing(inc.fractions), `receiver progress ${inc.fractions}`);
    assert.equal(inc.fractions.at(-1), 1);
    assert.deepEqual(inc.states.map((s) => s.state), ["verifying", "done"]);

    const [file] = b.files;
    assert.equal(file.ok, true);
    assert.equal(file.digest, sha);
    assert.equal(file.expected, sha);
    assert.equal(file.size, bytes.length);
    assert.equal(file.from, 1);
    assert.equal(file.type, "application/octet-stream");
    assert.equal(await page.evaluate((k) => tc.serverSha256(k), file.blob), sha, "the bytes received, hashed here");

    // The reports: exactly DESIGN.md's messages, nothing of the content.
    assert.deepEqual(a.reports, [
      { type: "share", share: id, state: "offered", digest: sha, size: bytes.length, media_type: null, name: "série 1.bin" },
    ]);
    assert.deepEqual(b.reports, [{ type: "share", share: id, state: "received", sender: 1, digest: sha }]);
    assert.deepEqual([...a.errors, ...b.errors], []);
    console.log(`20 MiB: longest main-thread stall during the transfer ${a.lag.toFixed(0)} ms`);
  } finally {
    await browser.close();
    await server.close();
  }
});
