// What the professional page's tests share: fictitious accounts, TOTP codes,
// signing in, the request form, and small valid documents made here.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { bin } from "./helpers.mjs";

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

/** SHA-256, hex. */
export const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** Waits until the polite region says `text` (a string or RegExp). */
export async function noticeSays(page, text, timeout = 20000) {
  await page.waitForFunction(
    ([src, flags]) => new RegExp(src, flags).test(document.getElementById("notice").textContent),
    typeof text === "string" ? [text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), ""] : [text.source, text.flags],
    { timeout },
  );
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
