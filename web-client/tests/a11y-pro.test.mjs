// axe-core on the professional's page: the sign-in form, a refused sign-in
// (said in French from the server's code, not its English sentence), the
// work list and a trace. After signing in the focus is on the list's
// heading; each « Trace » button names its act; every control reached by
// Tab shows a focus ring of 3:1 or more.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ERRORS } from "../i18n.js";
import { bin, checkA11y, focusRing, launchChromium, shots, startDemo, stopDemo, waitHealthy } from "./helpers.mjs";

/** The current TOTP code (RFC 6238: SHA-1, 6 digits, 30 s) of a base32 secret. */
function totp(base32) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

test("the professional's sign-in and act list pass axe and the keyboard", { timeout: 120000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  // A fictitious account for the demo act's requesting professional.
  const password = "mot-de-passe-fictif-42";
  const add = spawnSync(
    bin,
    ["--data", data, "professional", "add", "--login", "dr-exemple", "--name", "Dr Exemple Démo",
      "--rpps", "10000000009", "--password-stdin", "--json"],
    { input: `${password}\n`, encoding: "utf8" },
  );
  assert.equal(add.status, 0, add.stderr);
  const secret = JSON.parse(add.stdout).totp_secret;
  const port = 23443 + Math.floor(Math.random() * 1000);
  const { child } = await startDemo(data, port);
  await waitHealthy(port);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`https://127.0.0.1:${port}/pro`);
    await page.getByRole("heading", { name: "Connexion" }).waitFor();
    await checkA11y(page, "pro: sign-in");

    // A wrong code: the page says why in French.
    await page.getByLabel("Identifiant").fill("dr-exemple");
    await page.getByLabel("Mot de passe").fill(password);
    await page.getByLabel("Code à usage unique").fill("000000");
    await page.getByRole("button", { name: "Se connecter" }).click();
    await page.getByRole("alert").filter({ hasText: ERRORS.fr.api.credentials_invalid }).waitFor();
    await checkA11y(page, "pro: sign-in refused");
    await page.screenshot({ path: join(shots, "a11y-pro-1-signin-refused.png"), fullPage: true });

    // Every control of the form, by Tab, shows its ring.
    await page.getByRole("heading", { name: "Connexion" }).focus();
    for (const id of ["login", "password", "totp"]) {
      await page.keyboard.press("Tab");
      const ring = await focusRing(page);
      assert.ok(ring.element.startsWith(`input#${id}`), ring.element);
      assert.ok(ring.visible && ring.width >= 2 && ring.ratio >= 3, JSON.stringify(ring));
    }

    // Signed in by keyboard: the list's heading takes the focus.
    await page.getByLabel("Mot de passe").fill(password);
    await page.getByLabel("Code à usage unique").fill(totp(secret));
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.activeElement?.id === "acts-title", null, { timeout: 15000 });
    // Each row's buttons name their act (« Trace Téléconsultation du … »).
    const trace = page.getByRole("button", { name: /^Trace Téléconsultation du / });
    await trace.first().waitFor();
    await checkA11y(page, "pro: act list");
    // By Tab, every control up to the act's « Trace » shows its ring.
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press("Tab");
      const ring = await focusRing(page);
      assert.ok(ring.visible && ring.width >= 2 && ring.ratio >= 3, JSON.stringify(ring));
      if (/^button(#\S+)? "Trace"/.test(ring.element)) break;
      assert.ok(i < 7, `« Trace » not reached by Tab (at ${ring.element})`);
    }
    await page.screenshot({ path: join(shots, "a11y-pro-2-list.png"), fullPage: true });

    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.activeElement?.id === "trace-title", null, { timeout: 15000 });
    await page.locator("#trace-events li").first().waitFor();
    await checkA11y(page, "pro: trace");
    await page.screenshot({ path: join(shots, "a11y-pro-3-trace.png"), fullPage: true });
  } finally {
    await browser.close();
    await stopDemo(child);
  }
});
