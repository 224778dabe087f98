// Chat both ways over the chat data channel (exchange.js, no server): each
// message reaches the other end in order, both ends report the same salted
// SHA-256 for it (DESIGN.md's `chat_digest`), the digest is SHA-256(salt ‖
// UTF-8 text), and no report carries any of the text. Over-long and empty
// messages are refused before anything is sent.
//
// Needs: Debian's `chromium`, and `npm ci` in this folder (playwright-core).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { exchangePage, launchChromium, serveWebClient } from "./helpers.mjs";

test("chat both ways with equal digests at both ends", async () => {
  const server = await serveWebClient();
  const browser = await launchChromium();
  try {
    const page = await exchangePage(browser, server.url);
    // The digest's definition, known answer computed here.
    const salt = "000102030405060708090a0b0c0d0e0f";
    const expected = createHash("sha256").update(Buffer.from(salt, "hex")).update("Genou droit : épanchement ?", "utf8").digest("hex");
    assert.equal(await page.evaluate(([s, t]) => tc.chatDigest(s, t), [salt, "Genou droit : épanchement ?"]), expected);

    const fromA = ["Bonjour, voici le cliché du genou droit.", "Deuxième incidence dans un instant.", "Merci !"];
    const fromB = ["Reçu, je regarde. Ça prend 5 min 🙂"];
    for (const text of fromA) await page.evaluate((t) => tc.chat("A", t), text);
    await page.evaluate((t) => tc.chat("B", t), fromB[0]);
    await page.waitForFunction(() => tc.sides.B.chats.length === 4 && tc.sides.A.chats.length === 4);

    const a = await page.evaluate(() => tc.view("A"));
    const b = await page.evaluate(() => tc.view("B"));
    const received = (side, from) => side.chats.filter((c) => c.from === from && !c.mine).map((c) => c.text);
    assert.deepEqual(received(b, 1), fromA, "B gets A's messages, in order");
    assert.deepEqual(received(a, 2), fromB);
    for (const c of a.chats) assert.equal(c.from, c.mine ? 1 : 2);

    // Each message: one report from its sender, one from its receiver, same digest.
    const all = [...a.chats, ...b.chats];
    const ids = new Set(all.map((c) => c.id));
    assert.equal(ids.size, 4);
    for (const id of ids) {
      const sender = all.find((c) => c.id === id && c.mine).from;
      const reports = [...a.reports, ...b.reports].filter((r) => r.message === id);
      assert.equal(reports.length, 2, `two reports for ${id}`);
      for (const r of reports) {
        assert.deepEqual(Object.keys(r), ["type", "message", "sender", "digest"]);
        assert.equal(r.type, "chat_digest");
        assert.equal(r.sender, sender);
        assert.match(r.digest, /^[0-9a-f]{64}$/);
      }
      assert.equal(reports[0].digest, reports[1].digest, "both ends report the same digest");
      const shown = all.filter((c) => c.id === id).map((c) => c.digest);
      assert.deepEqual(shown, [reports[0].digest, reports[0].digest]);
    }
    // No text in what goes to the server, not even a word of it.
    const sent = JSON.stringify([...a.reports, ...b.reports]);
    for (const word of [...fromA, ...fromB].join(" ").split(/[\s,.!:?]+/).filter((w) => w.length > 2)) {
      assert.ok(!sent.includes(word), `"${word}" reached a report`);
    }

    // Limits: 4000 characters (code points) pass, one more does not; blank is refused.
    const ok = await page.evaluate(() => tc.chat("A", "🩻".repeat(4000)));
    assert.equal(ok.error, undefined);
    assert.deepEqual(await page.evaluate(() => tc.chat("A", "x".repeat(4001))), { error: "too_long" });
    assert.deepEqual(await page.evaluate(() => tc.chat("A", "  \n ")), { error: "empty" });
    await page.waitForFunction(() => tc.sides.B.chats.length === 5);
    assert.equal(await page.evaluate(() => tc.sides.A.reports.length), 5, "nothing reported for a refused message");
    assert.deepEqual(await page.evaluate(() => [...tc.sides.A.errors, ...tc.sides.B.errors]), []);
  } finally {
    await browser.close();
    await server.close();
  }
});
