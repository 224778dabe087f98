// The act's receipt from the professional's page (issue 15, « Receipts
// verify offline »): a téléexpertise (created with the command line, the
// absent patient's consent attested) is accepted and answered in writing
// by the expert on the page, which concludes it; the requester's work list
// then offers « Télécharger le reçu de trace » beside the PDF, and shows
// the log's verifier key. The downloaded receipt verifies with
// `teleconsult receipt verify --public-key <that key>` (no data
// directory); one byte changed, it does not. The key on the page is the
// one `teleconsult keys show` prints. Screenshot:
// target/e2e/receipt-worklist.png.
//
// Needs: `cargo build -p signaling` (the binary), Debian's `chromium`, and
// `npm ci` in this folder.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bin, checkA11y, launchChromium, shots, startDemo, stopDemo, waitHealthy } from "./helpers.mjs";
import { EXPERT, REQUESTER, addProfessional, noticeSays, proPage, signIn } from "./pro-helpers.mjs";

/** `teleconsult receipt verify FILE --public-key KEY`, from no data directory. */
function verify(file, key) {
  const nowhere = join(mkdtempSync(join(tmpdir(), "tc-none-")), "absent");
  return spawnSync(bin, ["--data", nowhere, "receipt", "verify", file, "--public-key", key], { encoding: "utf8" });
}

test("a professional downloads an act's receipt, which verifies offline and not once changed", { timeout: 180000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const requester = addProfessional(data, REQUESTER);
  const expert = addProfessional(data, EXPERT);
  const port = 28443 + Math.floor(Math.random() * 1000);
  const { child } = await startDemo(data, port);
  await waitHealthy(port);
  const created = spawnSync(bin, [
    "--data", data, "act", "create", "--kind", "teleexpertise",
    "--professional", REQUESTER.name, "--rpps", REQUESTER.rpps,
    "--expert", EXPERT.name, "--expert-rpps", EXPERT.rpps,
    "--question", "Douleur du poignet après une chute : fracture du scaphoïde ?",
    "--urgency", "urgent", "--without-patient", "--attest-consent", "--json",
  ], { encoding: "utf8" });
  assert.equal(created.status, 0, created.stderr);
  const act = JSON.parse(created.stdout).id;
  // One browser each: a browser's pages share its cookies.
  const browser = await launchChromium();
  const other = await launchChromium();
  try {
    const b = await proPage(browser, port, expert, "expert");
    assert.equal(await b.getByRole("link", { name: /^Télécharger le reçu de trace/ }).count(), 0, "nothing before the conclusion");
    await b.getByRole("button", { name: /^Ouvrir Téléexpertise du / }).click();
    await b.waitForFunction(() => document.activeElement?.id === "detail-title");
    await b.getByRole("button", { name: "Accepter" }).click();
    await noticeSays(b, "Demande acceptée.");
    await b.getByRole("button", { name: "Commencer l'examen" }).click();
    await b.waitForFunction(() => document.activeElement?.id === "report-form-title");
    await b.getByLabel("Compte rendu").fill("Pas de fracture visible ; immobilisation et contrôle à J+10.");
    await b.getByRole("button", { name: "Envoyer la réponse" }).click();
    await noticeSays(b, "Réponse envoyée : l'acte est conclu.");
    // The detail offers the receipt beside the PDF, and the key.
    const inDetail = b.locator("#detail-receipt");
    await inDetail.waitFor();
    assert.equal(await inDetail.textContent(), "Télécharger le reçu de trace");
    assert.equal(await inDetail.getAttribute("href"), `/api/acts/${act}/receipt`);
    await b.locator("#detail-log-key code").waitFor();

    // The requester's work list.
    const a = await other.newPage({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
    a.on("pageerror", (e) => console.error("requester page error:", e));
    await signIn(a, port, requester);
    const link = a.getByRole("link", { name: /^Télécharger le reçu de trace Téléexpertise du / });
    await link.waitFor();
    const key = (await a.locator("#log-key-line code").textContent()).trim();
    assert.match(key, /^teleconsult\.localhost\/trace\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$/);
    await checkA11y(a, "pro: work list with the receipt link and the log key");
    await a.screenshot({ path: join(shots, "receipt-worklist.png"), fullPage: true });
    // Tab goes from the PDF to the receipt.
    await a.locator(`#report-${act}`).focus();
    await a.keyboard.press("Tab");
    assert.equal(await a.evaluate(() => document.activeElement?.id), `receipt-${act}`);
    const [download] = await Promise.all([a.waitForEvent("download"), a.keyboard.press("Enter")]);
    assert.equal(download.suggestedFilename(), `receipt-${act}.txt`);
    const file = join(data, "receipt.txt");
    await download.saveAs(file);
    const bytes = readFileSync(file);
    assert.ok(bytes.toString("utf8").startsWith(`teleconsult-receipt/1\nact ${act}\n`));

    // Offline, with the key the page shows.
    const ok = verify(file, key);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`^receipt OK: act ${act}$`, "m"));
    assert.match(ok.stdout, /^checkpoint: origin teleconsult\.localhost\/trace, size \d+, root \S+$/m);
    // One byte changed, in the middle of the events: refused, with the cause.
    const changed = Buffer.from(bytes);
    const at = bytes.indexOf("\nproof ") + 10;
    changed[at] = changed[at] === 0x41 ? 0x42 : 0x41;
    const changedFile = join(data, "receipt-changed.txt");
    writeFileSync(changedFile, changed);
    const bad = verify(changedFile, key);
    assert.equal(bad.status, 1, bad.stdout);
    assert.match(bad.stderr, /^receipt verify: FAILED: /m);

    // The operator's `keys show` prints the same key.
    const shown = spawnSync(bin, ["--data", data, "keys", "show"], { encoding: "utf8" });
    assert.equal(shown.status, 0, shown.stderr);
    assert.ok(shown.stdout.includes(`log verifier key: ${key}\n`), shown.stdout);
  } finally {
    await browser.close();
    await other.close();
    await stopDemo(child);
  }
});
