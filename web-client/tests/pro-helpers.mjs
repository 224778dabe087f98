// What the professionals' tests share: fictitious accounts, TOTP codes,
// signing in, the request form, small valid documents made here, and the
// steps of a téléexpertise's live session on the call page (chat, shared
// files, screen, report) with what its trace must then hold.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { bin, checkA11y } from "./helpers.mjs";

/** The requesting professional (the demo act's RPPS) and the expert. Fictitious. */
export const REQUESTER = { login: "dr-requerant", name: "Dr Exemple Démo", rpps: "10000000009" };
export const EXPERT = { login: "dr-expert", name: "Dr Expert Fictif", rpps: "10000000025" };

/** The TOTP code (RFC 6238: SHA-1, 6 digits, 30 s) of a base32 secret at `now` (ms). */
export function totp(base32, now = Date.now()) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(now / 30000)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

/** `teleconsult professional add` for `who`; returns it with its password and TOTP secret. */
export function addProfessional(data, who) {
  const password = `mot-de-passe-fictif-${who.login}`;
  const add = spawnSync(
    bin,
    ["--data", data, "professional", "add", "--login", who.login, "--name", who.name, "--rpps", who.rpps, "--password-stdin", "--json"],
    { input: `${password}\n`, encoding: "utf8" },
  );
  assert.equal(add.status, 0, add.stderr);
  return { ...who, password, secret: JSON.parse(add.stdout).totp_secret };
}

/**
 * Signs `account` in on /pro (a code for the server's clock, `skewMs` ahead
 * of this one) and waits for the work list's heading to take the focus.
 */
export async function signIn(page, port, account, { skewMs = 0 } = {}) {
  await page.goto(`https://127.0.0.1:${port}/pro`);
  await page.getByRole("heading", { name: "Connexion" }).waitFor();
  await page.getByLabel("Identifiant").fill(account.login);
  await page.getByLabel("Mot de passe").fill(account.password);
  await page.getByLabel("Code à usage unique").fill(totp(account.secret, Date.now() + skewMs));
  await page.getByRole("button", { name: "Se connecter" }).click();
  await page.waitForFunction(() => document.activeElement?.id === "acts-title", null, { timeout: 15000 });
}

/**
 * A new page of `browser` at the pro page's size, its script errors logged
 * as `label`'s, with `account` signed in (see `signIn`).
 */
export async function proPage(browser, port, account, label, options) {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error(`${label} page error:`, e));
  await page.setViewportSize({ width: 1100, height: 900 });
  await signIn(page, port, account, options);
  return page;
}

/** Chooses `files` ([{ name, mimeType, buffer }] or paths) with the picker's button. */
export async function chooseFiles(page, files, button = "Choisir des documents…") {
  const [chooser] = await Promise.all([
    page.waitForEvent("filechooser"),
    page.getByRole("button", { name: button }).click(),
  ]);
  await chooser.setFiles(files);
}

/** Fills the new-request form (the view must be shown). */
export async function fillRequest(page, { self = REQUESTER, expert = EXPERT, question, urgency = "Urgente", attest = true, present = false }) {
  if (await page.locator("#self-fields").isVisible()) {
    await page.getByLabel("Votre nom").fill(self.name);
    await page.getByLabel("Votre numéro RPPS").fill(self.rpps);
  }
  await page.getByLabel("Nom de l'expert").fill(expert.name);
  await page.getByLabel("Numéro RPPS de l'expert").fill(expert.rpps);
  await page.getByLabel("Question posée à l'expert").fill(question);
  await page.getByRole("radio", { name: new RegExp(`^${urgency}`) }).check();
  if (present) await page.getByLabel("Le patient participe").check();
  if (attest) await page.getByLabel("J'atteste avoir recueilli le consentement du patient").check();
}

/** A JPEG drawn in `page` (a fictitious knee radiograph), as bytes. */
export async function makeJpeg(page, { width = 1200, height = 900, label = "Genou gauche (fictif)" } = {}) {
  const b64 = await page.evaluate(({ width, height, label }) => {
    const c = document.createElement("canvas");
    c.width = width;
    c.height = height;
    const g = c.getContext("2d");
    g.fillStyle = "#111";
    g.fillRect(0, 0, width, height);
    const grad = g.createRadialGradient(width / 2, height / 2, 20, width / 2, height / 2, height / 1.4);
    grad.addColorStop(0, "#d8d8d8");
    grad.addColorStop(1, "#1a1a1a");
    g.fillStyle = grad;
    // Two bones and a joint space, roughly.
    g.beginPath();
    g.ellipse(width / 2, height * 0.28, width * 0.14, height * 0.26, 0, 0, Math.PI * 2);
    g.fill();
    g.beginPath();
    g.ellipse(width / 2, height * 0.76, width * 0.12, height * 0.22, 0, 0, Math.PI * 2);
    g.fill();
    g.strokeStyle = "#f1c232";
    g.lineWidth = 3;
    g.strokeRect(10, 10, width - 20, height - 20);
    g.fillStyle = "#fff";
    g.font = "bold 40px sans-serif";
    g.fillText(label, 30, 60);
    g.font = "28px sans-serif";
    g.fillText("G", width - 70, height - 40);
    return c.toDataURL("image/jpeg", 0.9).split(",")[1];
  }, { width, height, label });
  return Buffer.from(b64, "base64");
}

/** A small valid one-page PDF (its cross-reference table right) saying `text`. */
export function makePdf(text = "Compte rendu fictif - radiographie du genou") {
  const stream = `BT /F1 18 Tf 72 720 Td (${text.replace(/[()\\]/g, "")}) Tj ET`;
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  let out = "%PDF-1.4\n";
  const offsets = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

/** A minimal DICOM Part 10 file: the 128-byte preamble, « DICM », one meta element. */
export function makeDicom() {
  const uid = Buffer.from("1.2.840.10008.1.2.1\0"); // transfer syntax: explicit VR little endian (even length)
  const element = Buffer.alloc(8);
  element.writeUInt16LE(0x0002, 0);
  element.writeUInt16LE(0x0010, 2);
  element.write("UI", 4, "latin1");
  element.writeUInt16LE(uid.length, 6);
  return Buffer.concat([Buffer.alloc(128), Buffer.from("DICM"), element, uid]);
}

/**
 * A PNG of `w`×`h` pixels (RGB, a gradient with a cross), chunks and CRCs
 * computed here, as bytes.
 */
export function makePng(w, h) {
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

/** SHA-256, hex. */
export const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** Waits until the polite region says `text` (a string or RegExp). */
export async function noticeSays(page, text, timeout = 20000) {
  await page.waitForFunction(
    ([src, flags]) => new RegExp(src, flags).test(document.getElementById("notice").textContent),
    typeof text === "string" ? [text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), ""] : [text.source, text.flags],
    { timeout },
  ).catch(async (e) => {
    throw new Error(`${e.message}\nwaiting for « ${text} », the notice says « ${await page.locator("#notice").textContent()} »`);
  });
}

/**
 * Presses Tab until the focused control's accessible name (its
 * aria-labelledby, aria-label or text) matches `pattern`; returns the name.
 */
export async function tabTo(page, pattern, max = 40) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const name = await page.evaluate(() => {
      const el = document.activeElement;
      const ids = el?.getAttribute("aria-labelledby");
      if (ids) return ids.split(/\s+/).map((id) => document.getElementById(id)?.textContent ?? "").join(" ").trim();
      return (el?.getAttribute("aria-label") ?? el?.textContent ?? "").trim();
    });
    if (pattern.test(name)) return name;
  }
  throw new Error(`${pattern} not reached by Tab in ${max} presses`);
}

// ------------------------------------------- the live session (call page)

const escaped = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// Where shareFile writes the files it shares; removed when the process exits.
let shareDir = null;

/**
 * Shares `file` ({ name, buffer }) from a call page through its button, as
 * a person does: picked from the disk. (Handed over as a buffer, Playwright
 * would decode it in the page's main thread: 20 MiB stalls the page for
 * seconds on a busy machine, long enough for its heartbeat to give the
 * connection up.)
 */
export async function shareFile(page, file) {
  if (!shareDir) {
    shareDir = mkdtempSync(join(tmpdir(), "tc-share-"));
    process.once("exit", () => rmSync(shareDir, { recursive: true, force: true }));
  }
  const path = join(mkdtempSync(join(shareDir, "f-")), file.name);
  writeFileSync(path, file.buffer);
  const [chooser] = await Promise.all([
    page.waitForEvent("filechooser"),
    page.getByRole("button", { name: "Partager un fichier" }).click(),
  ]);
  await chooser.setFiles(path);
}

/**
 * Chat both ways on two call pages: `a` sends `first` with its button, `b`
 * sees it and its live region says it (from `aWho`, as the page names `a`'s
 * sender); `b` answers `second` with Enter and `a` sees it. `b`'s input is
 * emptied and keeps the focus; the message `a` receives takes no focus from
 * the button `a` pressed.
 */
export async function chatBothWays(a, b, { first, second, aWho }) {
  await a.getByLabel("Votre message").fill(first);
  await a.getByRole("button", { name: "Envoyer" }).click();
  await b.locator("#chat-log li.chat-theirs").filter({ hasText: first }).waitFor();
  assert.equal(await b.locator("#exchange-live").textContent(), `Message de ${aWho} : ${first}`);
  await b.getByLabel("Votre message").fill(second);
  await b.getByLabel("Votre message").press("Enter");
  await a.locator("#chat-log li.chat-theirs").filter({ hasText: second }).waitFor();
  assert.equal(await b.getByLabel("Votre message").inputValue(), "", "the input is emptied");
  assert.equal(await b.evaluate(() => document.activeElement.id), "chat-input", "the focus stays in the input");
  assert.equal(await a.evaluate(() => document.activeElement.id), "chat-send", "an incoming message takes no focus from the button pressed");
}

/**
 * Shares `files` from `sender`'s call page, in order, and waits until
 * `receiver` has them all, checked, their digests node's SHA-256; the last
 * one is also saved through its download link and hashed here. The sender's
 * page then shows each sent, the receiver's the first received.
 */
export async function shareAndCheck(sender, receiver, files, { timeout = 90000 } = {}) {
  for (const file of files) await shareFile(sender, file);
  const received = receiver.locator("#received li[data-ok='true']");
  await received.nth(files.length - 1).waitFor({ timeout }).catch(async (e) => {
    const where = async (page) => (await page.locator("#transfers li").evaluateAll((lis) =>
      lis.map((li) => `${li.dataset.dir} ${li.dataset.state} ${li.querySelector("progress")?.value ?? "?"}/${li.querySelector("progress")?.max ?? "?"}: ${li.textContent.trim()}`))).join("; ");
    throw new Error(`${e.message}\nsender's transfers: ${await where(sender)}\nreceiver's transfers: ${await where(receiver)}`);
  });
  const digests = await received.evaluateAll((lis) => lis.map((li) => li.dataset.sha256));
  assert.deepEqual(digests, files.map((f) => sha256(f.buffer)));
  const last = files.at(-1);
  const [download] = await Promise.all([
    receiver.waitForEvent("download"),
    receiver.getByRole("link", { name: new RegExp(`Télécharger ${escaped(last.name)}`) }).click(),
  ]);
  assert.equal(download.suggestedFilename(), last.name);
  const saved = readFileSync(await download.path());
  assert.equal(saved.length, last.buffer.length);
  assert.equal(sha256(saved), sha256(last.buffer));
  await sender.waitForFunction((n) =>
    [...document.querySelectorAll("#transfers li[data-dir='out']")].filter((li) => li.dataset.state === "done").length === n,
  files.length);
  assert.match(
    await receiver.locator("#transfers li[data-dir='in']").first().textContent(),
    new RegExp(`Réception de ${escaped(files[0].name)}.*terminé`),
  );
}

/**
 * Opens the shared image `name` (`width` pixels wide) in the call page's
 * viewer, zooms in once, takes the screenshot `shot` if given, runs axe,
 * and closes it with Escape: the focus is back on its « Ouvrir » button.
 */
export async function viewSharedImage(page, name, width, shot) {
  await page.getByRole("button", { name: `Ouvrir ${name}` }).click();
  const viewer = page.getByRole("dialog", { name });
  await viewer.waitFor();
  await page.waitForFunction((w) => document.querySelector("dialog.viewer img")?.naturalWidth === w, width);
  await page.waitForFunction(() => Number(document.querySelector("dialog.viewer")?.dataset.scale) > 0);
  const before = Number(await viewer.getAttribute("data-scale"));
  await page.keyboard.press("+");
  const after = Number(await viewer.getAttribute("data-scale"));
  assert.ok(Math.abs(after / before - 1.25) < 0.01, `zoomed ${before} -> ${after}`);
  if (shot) await page.screenshot({ path: shot });
  await checkA11y(page, "viewer on the call page");
  await page.keyboard.press("Escape");
  await viewer.waitFor({ state: "detached" });
  assert.equal(await page.evaluate(() => document.activeElement.textContent), `Ouvrir ${name}`);
}

/**
 * `sharer` shows their screen: `viewer`'s video leaves the camera's
 * `cameraWidth` and its participants list says so (screenshot `shot` if
 * given); then `sharer` stops, and the camera comes back. Both pages end
 * with nothing left unconfirmed by the server.
 */
export async function shareScreen(sharer, viewer, cameraWidth, shot) {
  await sharer.getByRole("button", { name: "Partager l'écran" }).click();
  await sharer.getByRole("button", { name: "Arrêter le partage d'écran" }).waitFor();
  await viewer.waitForFunction((w) => document.querySelector("#remotes video")?.videoWidth !== w, cameraWidth, { timeout: 20000 });
  await viewer.locator("#participants li").filter({ hasText: "partage son écran" }).waitFor();
  if (shot) await viewer.screenshot({ path: shot, fullPage: true });
  await sharer.getByRole("button", { name: "Arrêter le partage d'écran" }).click();
  await viewer.waitForFunction((w) => document.querySelector("#remotes video")?.videoWidth === w, cameraWidth, { timeout: 20000 });
  await viewer.waitForFunction(() => ![...document.querySelectorAll("#participants li")].some((li) => li.textContent.includes("partage son écran")));
  for (const p of [sharer, viewer]) await p.waitForSelector("body[data-unconfirmed='0']");
}

/** The expert writes `report` on the call page and ends the act; every page in `all` says it ended. */
export async function concludeInSession(expert, report, all = [expert]) {
  await expert.getByLabel("Compte rendu").fill(report);
  await expert.getByRole("button", { name: "Terminer l'acte" }).click();
  for (const p of all) await p.getByRole("heading", { name: "Téléexpertise terminée" }).waitFor();
}

/**
 * What a live session leaves in the act's trace (`events` as
 * `verifiedEvents` gives them): `messages` chat messages, each reported by
 * both ends with the same digest; one offer per file of `shares` ({ file,
 * mediaType }: the type the sender's page sniffed from the content, null
 * for none), in order, its digest node's SHA-256, and one receipt for each
 * with the same digest; the screen share's start then stop, later; no
 * mismatch incident; and the conclusion, last, with `report`. Returns the
 * offers.
 */
export function assertSessionTrace(events, { messages, shares, report }) {
  const kinds = events.map((e) => e.kind).join(", ");
  const of = (kind) => events.filter((e) => e.kind === kind).map((e) => e.event);
  const chats = of("chat_reported");
  assert.equal(chats.length, 2 * messages, `${messages} messages, each reported by both ends: ${kinds}`);
  const ids = new Set(chats.map((c) => c.message));
  assert.equal(ids.size, messages);
  for (const message of ids) {
    const ends = chats.filter((c) => c.message === message);
    assert.equal(ends.length, 2);
    assert.match(ends[0].digest, /^[0-9a-f]{64}$/);
    assert.equal(ends[0].digest, ends[1].digest, "both ends report the same digest");
    assert.notEqual(ends[0].reporter, ends[1].reporter);
  }
  const offers = of("share_offered");
  assert.deepEqual(
    offers.map((o) => [o.name, o.size, o.media_type, o.digest]),
    shares.map(({ file, mediaType }) => [file.name, file.buffer.length, mediaType, sha256(file.buffer)]),
  );
  const receipts = of("share_received");
  assert.deepEqual(receipts.map((r) => [r.share, r.digest]), offers.map((o) => [o.share, o.digest]));
  const screen = events.filter((e) => e.kind.startsWith("screen_share_"));
  assert.deepEqual(screen.map((e) => e.kind), ["screen_share_started", "screen_share_stopped"]);
  assert.ok(Date.parse(screen[1].at) > Date.parse(screen[0].at), `${screen[0].at} then ${screen[1].at}`);
  assert.equal(of("incident_opened").filter((i) => i.kind.endsWith("_mismatch")).length, 0);
  const concluded = events.find((e) => e.kind === "concluded");
  assert.ok(concluded, `no conclusion: ${kinds}`);
  assert.equal(events.at(-1).kind, "concluded", "the report closes the act");
  assert.ok(JSON.stringify(concluded.event).includes(report), JSON.stringify(concluded.event));
  return offers;
}
