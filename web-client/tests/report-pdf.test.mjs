// The compte rendu as a PDF from the professional's page: a téléexpertise
// (created with the command line, the absent patient's consent attested)
// is accepted, reviewed and answered in writing by the expert on the page;
// the act is concluded, and the requester's work list then offers
// « Télécharger le compte rendu (PDF) », a real link reached and followed
// with the keyboard. The download (Playwright's download event) is a PDF
// in which `pdftotext` finds the report, its accents included. The act's
// detail offers the same link. axe on the list; a screenshot:
// target/e2e/report-pdf-worklist.png.
//
// Needs: `cargo build -p signaling` (the binary), Debian's `chromium` and
// `poppler-utils` (pdftotext), and `npm ci` in this folder.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bin, checkA11y, launchChromium, shots, startDemo, stopDemo, waitHealthy } from "./helpers.mjs";
import { EXPERT, REQUESTER, addProfessional, noticeSays, signIn } from "./pro-helpers.mjs";

const REPORT = "Cliché de face : pas de lésion osseuse ; œdème des parties molles. Conduite à tenir : « repos », glaçage, reçu ce jour, contrôle à J+7.";

/**
 * `pdftotext -layout` of `file` without the pages' footers (« page N / M »
 * lines), white space made single spaces: text across a page break reads
 * as written.
 */
function pdfText(file) {
  const out = spawnSync("pdftotext", ["-layout", "-enc", "UTF-8", file, "-"], { encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /page 1 \/ \d+/);
  const body = out.stdout.split("\n").filter((l) => !/page \d+ \/ \d+\s*$/.test(l));
  return body.join(" ").split(/\s+/).filter(Boolean).join(" ");
}

test("a professional downloads the compte rendu of a concluded act from the page", { timeout: 180000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const requester = addProfessional(data, REQUESTER);
  const expert = addProfessional(data, EXPERT);
  const port = 27443 + Math.floor(Math.random() * 1000);
  const { child } = await startDemo(data, port);
  await waitHealthy(port);
  const created = spawnSync(bin, [
    "--data", data, "act", "create", "--kind", "teleexpertise",
    "--professional", REQUESTER.name, "--rpps", REQUESTER.rpps,
    "--expert", EXPERT.name, "--expert-rpps", EXPERT.rpps,
    "--question", "Douleur de cheville après une chute : fracture sur le cliché ?",
    "--urgency", "urgent", "--without-patient", "--attest-consent", "--json",
  ], { encoding: "utf8" });
  assert.equal(created.status, 0, created.stderr);
  const act = JSON.parse(created.stdout).id;
  // One browser each: a browser's pages share its cookies.
  const browser = await launchChromium();
  const other = await launchChromium();
  try {
    // The expert answers in writing: the act concludes.
    const b = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    b.on("pageerror", (e) => console.error("expert page error:", e));
    await signIn(b, port, expert);
    // Nothing to download before the conclusion.
    assert.equal(await b.getByRole("link", { name: /^Télécharger le compte rendu/ }).count(), 0);
    await b.getByRole("button", { name: /^Ouvrir Téléexpertise du / }).click();
    await b.waitForFunction(() => document.activeElement?.id === "detail-title");
    await b.getByRole("button", { name: "Accepter" }).click();
    await noticeSays(b, "Demande acceptée.");
    await b.getByRole("button", { name: "Commencer l'examen" }).click();
    await b.waitForFunction(() => document.activeElement?.id === "report-form-title");
    await b.getByLabel("Compte rendu").fill(REPORT);
    await b.getByLabel("Médicaments prescrits").fill("Paracétamol 1 g, 3 fois par jour au plus");
    await b.getByRole("button", { name: "Envoyer la réponse" }).click();
    await noticeSays(b, "Réponse envoyée : l'acte est conclu.");
    // The detail offers the compte rendu too.
    const inDetail = b.locator("#detail-report-pdf");
    await inDetail.waitFor();
    assert.equal(await inDetail.textContent(), "Télécharger le compte rendu (PDF)");
    assert.equal(await inDetail.getAttribute("href"), `/api/acts/${act}/report.pdf`);

    // The requester's work list: the link, named with its act, by keyboard.
    const a = await other.newPage({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
    a.on("pageerror", (e) => console.error("requester page error:", e));
    await signIn(a, port, requester);
    const link = a.getByRole("link", { name: /^Télécharger le compte rendu \(PDF\) Téléexpertise du / });
    await link.waitFor();
    await checkA11y(a, "pro: work list with the compte rendu link");
    await a.screenshot({ path: join(shots, "report-pdf-worklist.png"), fullPage: true });
    // Tab reaches it: it is in the page's focus order.
    await a.locator(`#trace-${act}`).focus();
    await a.keyboard.press("Tab");
    assert.equal(await a.evaluate(() => document.activeElement?.id), `report-${act}`);
    const [download] = await Promise.all([a.waitForEvent("download"), a.keyboard.press("Enter")]);
    assert.equal(download.suggestedFilename(), `compte-rendu-${act}.pdf`);
    const file = join(data, "downloaded.pdf");
    await download.saveAs(file);
    const bytes = readFileSync(file);
    assert.equal(bytes.subarray(0, 5).toString("latin1"), "%PDF-");
    const text = pdfText(file);
    assert.ok(text.includes("Compte rendu de téléexpertise"), text);
    assert.ok(text.includes(REPORT), `the report is not in the PDF's text:\n${text}`);
    assert.ok(text.includes(`RPPS ${REQUESTER.rpps}`) && text.includes(`RPPS ${EXPERT.rpps}`), text);
    assert.ok(text.includes("Médicament : Paracétamol 1 g"), text);
  } finally {
    await browser.close();
    await other.close();
    await stopDemo(child);
  }
});
