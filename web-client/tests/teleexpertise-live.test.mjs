// A téléexpertise's live session in headless Chromium: the requester and the
// expert join, the requester attests the patient's consent, both are in the
// call; the requester shares an image and a 20 MiB file over the data
// channel, the expert opens the image in the viewer and the file arrives
// with the SHA-256 node computes; they chat; the requester shares their
// screen (the expert's video shows it) and stops; the expert concludes with
// a report. Then `trace verify` passes and the trace holds the chat reports
// (two per message), the shares with both ends' digests equal to node's,
// the screen share's start and stop, and the conclusion, by the expert. The
// pages say « Téléexpertise » (title, call heading, end), and the absent
// patient is listed as not taking part, with no phone button. axe runs on
// the call page with the chat open. Screenshots:
// target/e2e/teleexpertise-*.png.
//
// Needs: `cargo build -p signaling` (the binary), Debian's `chromium`, and
// `npm ci` in this folder (playwright-core, axe-core).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bin, checkA11y, expectPlaying, launchChromium, shots, startDemo, stopDemo, verifiedEvents, waitHealthy } from "./helpers.mjs";
import { assertSessionTrace, chatBothWays, concludeInSession, makePng, shareAndCheck, shareScreen, viewSharedImage } from "./pro-helpers.mjs";

/** Creates a téléexpertise without the patient on the server's data dir. */
function createTeleexpertise(data, port) {
  const args = [
    "--data", data, "act", "create", "--kind", "teleexpertise",
    "--professional", "Dr Requérant Fictif", "--rpps", "10000000009",
    "--expert", "Dr Experte Fictive", "--expert-rpps", "10101010105",
    "--without-patient", "--public-url", `https://127.0.0.1:${port}`, "--json",
  ];
  // The question, once the CLI takes one (issue 13's request).
  const help = spawnSync(bin, ["act", "create", "--help"], { encoding: "utf8" }).stdout;
  if (help.includes("--question")) args.push("--question", "Gonalgie droite : lésion méniscale sur la radio ?");
  const out = spawnSync(bin, args, { encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  return JSON.parse(out.stdout);
}

test("a téléexpertise's live session: chat, files, screen and the expert's report", { timeout: 240000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const port = 19443 + Math.floor(Math.random() * 1000);
  const { child } = await startDemo(data, port);
  await waitHealthy(port);
  const act = createTeleexpertise(data, port);
  const image = { name: "radio-genou.png", buffer: makePng(640, 480) };
  const big = { name: "serie-irm.bin", buffer: randomBytes(20 * 1024 * 1024) };
  const browser = await launchChromium();
  try {
    const requester = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const expert = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    for (const p of [requester, expert]) p.on("pageerror", (e) => console.error("page error:", e));
    await requester.goto(act.links.professional);
    await requester.getByRole("button", { name: "Continuer" }).click();
    await expert.goto(act.links.expert);
    await expert.getByRole("button", { name: "Continuer" }).click();

    // The requester attests the absent patient's consent: the performance
    // starts, and the call with it.
    await requester.getByRole("button", { name: "J'atteste le consentement du patient" }).click();
    await expectPlaying(requester, "#remotes video");
    const cameraWidth = await expectPlaying(expert, "#remotes video");
    for (const p of [requester, expert]) await p.waitForSelector("#exchange[data-peers='1']", { timeout: 20000 });

    // The page says what the act is: a téléexpertise, not a consultation;
    // the absent patient does not take part and is not offered a phone call.
    for (const p of [requester, expert]) {
      await p.getByRole("heading", { level: 1, name: "Téléexpertise en cours" }).waitFor();
      assert.equal(await p.locator("#title").textContent(), "Téléexpertise");
      assert.equal(await p.title(), "Téléexpertise en cours — Téléexpertise");
      const patient = p.locator("#participants li").filter({ hasText: /^Patient/ });
      assert.match(await patient.textContent(), /\(ne participe pas\)/);
      assert.equal(await patient.getByRole("button").count(), 0, "no « Appeler par téléphone » for a patient who takes no part");
    }
    assert.equal(await requester.getByRole("button", { name: "Appeler par téléphone" }).count(), 0);

    // Chat, both ways; the screen reader hears what the other one writes.
    await chatBothWays(requester, expert, {
      first: "Bonjour, voici la radio du genou droit.",
      second: "Reçue, je regarde la série.",
      aWho: "Médecin — Dr Requérant Fictif",
    });

    // Files: the image, then 20 MiB, each sent once its offer is recorded;
    // both arrive with node's SHA-256.
    await shareAndCheck(requester, expert, [image, big]);

    await expert.screenshot({ path: join(shots, "teleexpertise-1-session-chat.png"), fullPage: true });
    // In English, every text of the exchange follows.
    await expert.getByRole("button", { name: "Switch to English" }).click();
    await expert.getByRole("heading", { name: "Exchanges" }).waitFor();
    await expert.getByRole("heading", { level: 1, name: "Tele-expertise in progress" }).waitFor();
    assert.match(await expert.locator("#participants li").filter({ hasText: /^Patient/ }).textContent(), /\(not taking part\)/);
    await expert.getByLabel("Your message").waitFor();
    await expert.getByRole("button", { name: "Open radio-genou.png" }).waitFor();
    assert.match(await expert.locator("#transfers li").first().textContent(), /Receiving radio-genou\.png.*done/);
    assert.match(await expert.locator("#chat-log li").first().textContent(), /^Doctor — Dr Requérant Fictif/);
    await expert.getByRole("button", { name: "Passer en français" }).click();
    await checkA11y(expert, "call page with the chat and files (expert)");
    await checkA11y(requester, "call page with the chat and files (requester)");

    // The image opens in the viewer, focus inside it, and comes back.
    await viewSharedImage(expert, image.name, 640, join(shots, "teleexpertise-2-viewer.png"));

    // The requester shows their screen: the expert's video becomes it.
    await shareScreen(requester, expert, cameraWidth, join(shots, "teleexpertise-3-screen-shared.png"));

    // The expert concludes from the session page.
    await concludeInSession(expert, "Lésion méniscale interne probable ; IRM dédiée conseillée.", [expert, requester]);
    assert.equal(await requester.locator("#ended-text").textContent(), "La téléexpertise est terminée. Vous pouvez fermer cette page.");
    await requester.screenshot({ path: join(shots, "teleexpertise-4-ended.png"), fullPage: true });
  } finally {
    await browser.close();
    await stopDemo(child);
  }

  const events = verifiedEvents(data, act.id);
  assertSessionTrace(events, {
    messages: 2,
    shares: [{ file: image, mediaType: "image/png" }, { file: big, mediaType: null }],
    report: "Lésion méniscale interne probable",
  });
  assert.equal(events.find((e) => e.kind === "concluded").event.by, 2, "the expert (p2) concluded");
});
