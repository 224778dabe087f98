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
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { bin, checkA11y, expectPlaying, launchChromium, shots, startDemo, stopDemo, verifiedEvents, waitHealthy } from "./helpers.mjs";

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

// A PNG of `w`×`h` pixels (RGB, a gradient with a cross), chunks and CRCs
// computed here.
function png(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB
  const rows = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1);
    for (let x = 0; x < w; x++) {
      const cross = Math.abs(x - w / 2) < 6 || Math.abs(y - h / 2) < 6;
      const v = cross ? 240 : Math.floor((255 * (x + y)) / (w + h));
      rows.set([v, cross ? 200 : 80, cross ? 40 : 255 - v], row + 1 + x * 3);
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

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

/** Shares `file` ({name, mimeType, buffer}) from `page` through its button. */
async function shareFile(page, file) {
  const [chooser] = await Promise.all([
    page.waitForEvent("filechooser"),
    page.getByRole("button", { name: "Partager un fichier" }).click(),
  ]);
  await chooser.setFiles(file);
}

test("a téléexpertise's live session: chat, files, screen and the expert's report", { timeout: 240000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const port = 19443 + Math.floor(Math.random() * 1000);
  const { child } = await startDemo(data, port);
  await waitHealthy(port);
  const act = createTeleexpertise(data, port);
  const image = { name: "radio-genou.png", mimeType: "image/png", buffer: png(640, 480) };
  const big = { name: "serie-irm.bin", mimeType: "application/octet-stream", buffer: randomBytes(20 * 1024 * 1024) };
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
    await requester.getByLabel("Votre message").fill("Bonjour, voici la radio du genou droit.");
    await requester.getByRole("button", { name: "Envoyer" }).click();
    await expert.locator("#chat-log li.chat-theirs").filter({ hasText: "voici la radio" }).waitFor();
    assert.match(await expert.locator("#exchange-live").textContent(), /Message de Médecin — Dr Requérant Fictif : Bonjour/);
    await expert.getByLabel("Votre message").fill("Reçue, je regarde la série.");
    await expert.getByLabel("Votre message").press("Enter");
    await requester.locator("#chat-log li.chat-theirs").filter({ hasText: "je regarde" }).waitFor();
    assert.equal(await expert.getByLabel("Votre message").inputValue(), "", "the input is emptied");
    assert.equal(await expert.evaluate(() => document.activeElement.id), "chat-input", "the focus stays in the input");
    assert.equal(await requester.evaluate(() => document.activeElement.id), "chat-send", "an incoming message takes no focus from the button pressed");

    // Files: the image, then 20 MiB, each sent once its offer is recorded.
    await shareFile(requester, image);
    await shareFile(requester, big);
    const received = expert.locator("#received li[data-ok='true']");
    await received.nth(1).waitFor({ timeout: 90000 });
    const digests = await received.evaluateAll((lis) => lis.map((li) => li.dataset.sha256));
    assert.deepEqual(digests, [sha256(image.buffer), sha256(big.buffer)]);
    // The bytes the download link saves, hashed here: node's digest.
    const [download] = await Promise.all([
      expert.waitForEvent("download"),
      expert.getByRole("link", { name: /Télécharger serie-irm\.bin/ }).click(),
    ]);
    assert.equal(download.suggestedFilename(), big.name);
    const saved = readFileSync(await download.path());
    assert.equal(saved.length, big.buffer.length);
    assert.equal(sha256(saved), sha256(big.buffer));
    await requester.waitForFunction(() =>
      [...document.querySelectorAll("#transfers li[data-dir='out']")].filter((li) => li.dataset.state === "done").length === 2);
    assert.match(await expert.locator("#transfers li[data-dir='in']").first().textContent(), /Réception de radio-genou\.png.*terminé/);

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
    await expert.getByRole("button", { name: "Ouvrir radio-genou.png" }).click();
    const viewer = expert.getByRole("dialog", { name: "radio-genou.png" });
    await viewer.waitFor();
    await expert.waitForFunction(() => document.querySelector("dialog.viewer img")?.naturalWidth === 640);
    await expert.keyboard.press("+");
    await expert.screenshot({ path: join(shots, "teleexpertise-2-viewer.png") });
    await checkA11y(expert, "viewer on the call page");
    await expert.keyboard.press("Escape");
    await viewer.waitFor({ state: "detached" });
    assert.equal(await expert.evaluate(() => document.activeElement.textContent), "Ouvrir radio-genou.png");

    // The requester shows their screen: the expert's video becomes it.
    await requester.getByRole("button", { name: "Partager l'écran" }).click();
    await requester.getByRole("button", { name: "Arrêter le partage d'écran" }).waitFor();
    await expert.waitForFunction((w) => document.querySelector("#remotes video")?.videoWidth !== w, cameraWidth, { timeout: 20000 });
    await expert.locator("#participants li").filter({ hasText: "partage son écran" }).waitFor();
    await expert.screenshot({ path: join(shots, "teleexpertise-3-screen-shared.png"), fullPage: true });
    await requester.getByRole("button", { name: "Arrêter le partage d'écran" }).click();
    await expert.waitForFunction((w) => document.querySelector("#remotes video")?.videoWidth === w, cameraWidth, { timeout: 20000 });
    await expert.waitForFunction(() => ![...document.querySelectorAll("#participants li")].some((li) => li.textContent.includes("partage son écran")));
    for (const p of [requester, expert]) await p.waitForSelector("body[data-unconfirmed='0']");

    // The expert concludes from the session page.
    await expert.getByLabel("Compte rendu").fill("Lésion méniscale interne probable ; IRM dédiée conseillée.");
    await expert.getByRole("button", { name: "Terminer l'acte" }).click();
    await expert.getByRole("heading", { name: "Téléexpertise terminée" }).waitFor();
    await requester.getByRole("heading", { name: "Téléexpertise terminée" }).waitFor();
    assert.equal(await requester.locator("#ended-text").textContent(), "La téléexpertise est terminée. Vous pouvez fermer cette page.");
    await requester.screenshot({ path: join(shots, "teleexpertise-4-ended.png"), fullPage: true });
  } finally {
    await browser.close();
    await stopDemo(child);
  }

  const events = verifiedEvents(data, act.id);
  const of = (kind) => events.filter((e) => e.kind === kind).map((e) => e.event);
  const chats = of("chat_reported");
  assert.equal(chats.length, 4, "two messages, each reported by both ends");
  for (const message of new Set(chats.map((c) => c.message))) {
    const ends = chats.filter((c) => c.message === message);
    assert.equal(ends.length, 2);
    assert.equal(ends[0].digest, ends[1].digest, "both ends report the same digest");
    assert.notEqual(ends[0].reporter, ends[1].reporter);
  }
  const offers = of("share_offered");
  assert.deepEqual(
    offers.map((o) => [o.name, o.size, o.media_type, o.digest]),
    [
      [image.name, image.buffer.length, "image/png", sha256(image.buffer)],
      [big.name, big.buffer.length, null, sha256(big.buffer)],
    ],
  );
  const receipts = of("share_received");
  assert.deepEqual(receipts.map((r) => [r.share, r.digest]), offers.map((o) => [o.share, o.digest]));
  const screen = events.filter((e) => e.kind.startsWith("screen_share_"));
  assert.deepEqual(screen.map((e) => e.kind), ["screen_share_started", "screen_share_stopped"]);
  assert.ok(Date.parse(screen[1].at) > Date.parse(screen[0].at));
  assert.equal(of("incident_opened").filter((i) => i.kind.endsWith("_mismatch")).length, 0);
  const concluded = events.find((e) => e.kind === "concluded");
  assert.ok(concluded, `no conclusion: ${events.map((e) => e.kind)}`);
  assert.equal(events.at(-1).kind, "concluded", "the report closes the act");
  assert.match(JSON.stringify(concluded.event), /Lésion méniscale interne probable/);
  assert.equal(concluded.event.by, 2, "the expert (p2) concluded");
});
