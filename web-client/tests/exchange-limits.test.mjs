// The limits of file sharing (exchange.js, no server): a file over the
// receiver's limit is refused by the receiver (the sender stops, the
// receiver reports the share cancelled), a file over the sender's limit or
// over 1 GiB, or for recipients not connected, is refused before anything
// is sent or reported, an empty file travels, and names are sanitised (no
// directories, control or bidi characters, at most 255 bytes) before they
// are offered or shown.
//
// Needs: Debian's `chromium`, and `npm ci` in this folder (playwright-core).
import { test } from "node:test";
import assert from "node:assert/strict";
import { exchangePage, launchChromium, serveWebClient } from "./helpers.mjs";

const MIB = 1024 * 1024;

test("size limits at both ends, empty files, sanitised names", async () => {
  const server = await serveWebClient();
  const browser = await launchChromium();
  try {
    const page = await exchangePage(browser, server.url, { A: { maxSize: 3 * MIB }, B: { maxSize: 2 * MIB } });
    // Over the receiver's limit: refused there.
    const id = await page.evaluate(() => tc.share("A", tc.makeBlob(3), "gros.bin"));
    await page.waitForFunction((id) => tc.sides.A.outgoing[id].handle.state === "cancelled", id);
    let a = await page.evaluate(() => tc.view("A"));
    let b = await page.evaluate(() => tc.view("B"));
    assert.equal(a.outgoing[id].reason, "peer");
    assert.deepEqual(b.errors, [{ peer: 1, code: "too_large", id }]);
    assert.deepEqual(b.incoming, []);
    assert.deepEqual(b.reports, [{ type: "share", share: id, state: "cancelled" }]);
    assert.deepEqual(a.reports.map((r) => r.state), ["offered"]);

    // Over the sender's limit, and over 1 GiB: refused at once, nothing reported.
    assert.deepEqual(await page.evaluate(() => tc.share("A", tc.makeBlob(4), "x.bin")), { error: "too_large" });
    assert.deepEqual(await page.evaluate(() => tc.share("B", tc.repeatBlob(1024, 1), "x.bin")), { error: "too_large" });
    assert.deepEqual(await page.evaluate(() => tc.share("B", "pas un fichier", "x.bin")), { error: "not_a_file" });
    // Recipients chosen by the page: nobody among them is connected.
    assert.deepEqual(await page.evaluate(() => tc.share("A", tc.makeBlob(1), "x.bin", [3])), { error: "no_peer" });
    assert.deepEqual(await page.evaluate(() => tc.chat("A", "seulement au patient", [3])), { error: "no_peer" });
    assert.equal((await page.evaluate(() => tc.view("A"))).reports.length, 1);

    // An empty file travels; a hostile name arrives sanitised.
    const empty = await page.evaluate(() => tc.share("A", tc.repeatBlob(0), "../../\u202Egnp.exe\u0000"));
    await page.waitForFunction((id) => tc.sides.B.files.some((f) => f.id === id), empty);
    a = await page.evaluate(() => tc.view("A"));
    b = await page.evaluate(() => tc.view("B"));
    const file = b.files.find((f) => f.id === empty);
    assert.equal(file.ok, true);
    assert.equal(file.size, 0);
    assert.equal(file.digest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert.equal(file.name, "gnp.exe");
    assert.equal(a.reports.find((r) => r.share === empty).name, "gnp.exe");

    const names = await page.evaluate(() => [
      "../../etc/passwd", "C:\\Users\\dr\\compte rendu.pdf", "a\u0000b\u0007c.png", "photo\u202Egpj.exe",
      "...", ".htaccess", "a<b>:c|d?.png", "", " scan .dcm ", "é".repeat(300) + ".dcm",
    ].map(tc.sanitizeName));
    assert.deepEqual(names.slice(0, 9), [
      "passwd", "compte rendu.pdf", "abc.png", "photogpj.exe", "fichier", "htaccess", "a_b__c_d_.png", "fichier", "scan .dcm",
    ]);
    assert.equal(Buffer.byteLength(names[9]), 255 - 1, "cut on a character, within 255 bytes");
    assert.ok(names[9].endsWith("é.dcm"), "the extension is kept");
  } finally {
    await browser.close();
    await server.close();
  }
});
