// A chunk altered on the way (a test hook flips a byte of the sender's 4th
// chunk after the file was hashed; exchange.js, no server): the receiver's
// SHA-256 differs from the offer's, so it delivers no file (`ok` false,
// `blob` null) and reports `received` with the digest it computed, which
// is the SHA-256 of the altered bytes computed here; the sender's offer
// carries the true one.
//
// Needs: Debian's `chromium`, and `npm ci` in this folder (playwright-core).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { exchangePage, launchChromium, serveWebClient } from "./helpers.mjs";

test("a corrupted chunk yields ok=false and a differing received digest", async () => {
  const bytes = randomBytes(1024 * 1024 + 123);
  const sha = createHash("sha256").update(bytes).digest("hex");
  const altered = Buffer.from(bytes);
  altered[3 * 64 * 1024] ^= 0xff;
  const alteredSha = createHash("sha256").update(altered).digest("hex");
  const server = await serveWebClient({ "/blob/1m": bytes });
  const browser = await launchChromium();
  try {
    const page = await exchangePage(browser, server.url, { A: { corruptChunk: 3 } });
    const id = await page.evaluate(async () => tc.share("A", await tc.fetchBlob("/blob/1m"), "coupe.bin"));
    await page.waitForFunction((id) => tc.sides.B.files.some((f) => f.id === id), id);
    const a = await page.evaluate(() => tc.view("A"));
    const b = await page.evaluate(() => tc.view("B"));
    const [file] = b.files;
    assert.equal(file.ok, false);
    assert.equal(file.blob, null, "nothing of a file that does not match is handed over");
    assert.equal(file.expected, sha);
    assert.equal(file.digest, alteredSha);
    assert.deepEqual(b.incoming[0].states.map((s) => [s.state, s.reason]), [["verifying", null], ["failed", "digest"]]);
    assert.deepEqual(a.reports, [{ type: "share", share: id, state: "offered", digest: sha, size: bytes.length, media_type: null, name: "coupe.bin" }]);
    assert.deepEqual(b.reports, [{ type: "share", share: id, state: "received", sender: 1, digest: alteredSha }]);
    assert.notEqual(b.reports[0].digest, a.reports[0].digest, "the server sees the mismatch");
  } finally {
    await browser.close();
    await server.close();
  }
});
