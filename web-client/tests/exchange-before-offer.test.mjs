// The `beforeOffer` hook (exchange.js, no server): a share waits, state
// "offering", until the page's hook answers, as app.js does at the server's
// `share_recorded`; nothing reaches the peer before. Recorded, it is sent
// and arrives; refused, it fails with the code and is never sent, and no
// `cancelled` is reported for it. Cancelled while waiting, it is reported
// cancelled and never sent, whatever the answer that comes later.
//
// Needs: Debian's `chromium`, and `npm ci` in this folder (playwright-core).
import { test } from "node:test";
import assert from "node:assert/strict";
import { exchangePage, launchChromium, serveWebClient } from "./helpers.mjs";

test("a share waits for its offer to be recorded, and a refused one is never sent", async () => {
  const server = await serveWebClient();
  const browser = await launchChromium();
  try {
    const page = await exchangePage(browser, server.url, { A: { holdOffers: true } });
    const share = async (name) => {
      const key = await page.evaluate(() => tc.makeBlob(1));
      const id = await page.evaluate(([k, n]) => tc.share("A", k, n), [key, name]);
      await page.waitForFunction((id) => tc.heldOffers("A").includes(id), id);
      return id;
    };
    const states = (id) => page.evaluate((id) => tc.view("A").outgoing[id].states.map((s) => s.state), id);

    // Held: reported offered, waiting, nothing sent.
    const recorded = await share("accepte.bin");
    assert.deepEqual(await states(recorded), ["offering"]);
    assert.deepEqual(await page.evaluate(() => tc.view("B").incoming), []);
    await page.evaluate((id) => tc.answerOffer("A", id), recorded);
    await page.waitForFunction((id) => tc.sides.B.files.some((f) => f.id === id && f.ok), recorded);
    assert.deepEqual(await states(recorded), ["offering", "queued", "sending", "done"]);

    // Refused: failed with the code, never sent, no cancel reported.
    const refused = await share("refuse.bin");
    await page.evaluate((id) => tc.answerOffer("A", id, "refused"), refused);
    await page.waitForFunction((id) => tc.view("A").outgoing[id].state === "failed", refused);
    const out = (await page.evaluate(() => tc.view("A"))).outgoing[refused];
    assert.equal(out.reason, "refused");
    assert.equal(await page.evaluate((id) => tc.sides.A.outgoing[id].handle.refusal, refused), "refused");

    // Cancelled while waiting: reported cancelled; a late answer sends nothing.
    const cancelled = await share("annule.bin");
    await page.evaluate((id) => tc.cancel("A", id), cancelled);
    await page.evaluate((id) => tc.answerOffer("A", id), cancelled);
    assert.deepEqual(await states(cancelled), ["offering", "cancelled"]);

    // A chat after all that goes through: the channel is free.
    await page.evaluate(() => tc.chat("A", "après"));
    await page.waitForFunction(() => tc.sides.B.chats.some((c) => c.text === "après"));
    const b = await page.evaluate(() => tc.view("B"));
    assert.deepEqual(b.incoming.map((i) => i.name), ["accepte.bin"], "only the recorded share was sent");
    const a = await page.evaluate(() => tc.view("A"));
    assert.deepEqual(
      a.reports.filter((r) => r.type === "share").map((r) => [r.share, r.state]),
      [
        [recorded, "offered"],
        [refused, "offered"],
        [cancelled, "offered"],
        [cancelled, "cancelled"],
      ],
    );
  } finally {
    await browser.close();
    await server.close();
  }
});
