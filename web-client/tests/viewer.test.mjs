// The document viewer (viewer.js, no server): a PNG opens with focus in
// the viewer, zooms with the keyboard (+ − 0), the buttons and the wheel,
// pans with the arrows and a drag, and closes with Escape, focus going back
// to the button that opened it; a PDF shows in an iframe of a blob: URL;
// a DICOM file is a download link that downloads the same bytes; an HTML
// file is never shown inline. Screenshots: target/e2e/viewer-*.png.
//
// Needs: Debian's `chromium`, and `npm ci` in this folder (playwright-core).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launchChromium, serveWebClient, shots } from "./helpers.mjs";

// A one-page PDF, its cross-reference table computed.
function pdf() {
  const text = "BT /F1 24 Tf 72 760 Td (Compte rendu - document de test) Tj ET";
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    `<< /Length ${text.length} >>\nstream\n${text}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  let out = "%PDF-1.4\n";
  const offsets = objects.map((o, i) => {
    const at = out.length;
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
    return at;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}
// A DICOM file's start: the 128-byte preamble, "DICM", a few bytes.
const dicom = Buffer.concat([Buffer.alloc(128), Buffer.from("DICM"), Buffer.from([2, 0, 0, 0, 0x55, 0x4c, 4, 0, 0, 0, 0, 0])]);

test("the viewer: zoom and pan an image, PDF inline, DICOM as a download", async () => {
  const server = await serveWebClient({ "/blob/pdf": pdf(), "/blob/dicom": dicom });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page.on("pageerror", (e) => console.error("page error:", e));
    await page.goto(`${server.url}/tests/pages/viewer.html`);
    await page.waitForFunction(() => window.tv);
    const view = () => page.evaluate(() => tv.viewer.view);
    const near = (a, b, what, within = 1e-6) => assert.ok(Math.abs(a - b) < within, `${what}: ${a} ≠ ${b}`);

    // ------------------------------------------------------------- image
    await page.focus("#open");
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "radio-genou.png" });
    await dialog.waitFor();
    await page.waitForFunction(() => tv.viewer?.element.dataset.scale);
    assert.equal(await page.evaluate(() => document.activeElement.className), "viewer-stage", "focus moves into the viewer");
    const v0 = await view();
    assert.ok(v0.fit < 1 && v0.scale === v0.fit, "a large image opens fitted");
    await page.screenshot({ path: join(shots, "viewer-1-fit.png") });

    await page.keyboard.press("+");
    await page.keyboard.press("+");
    near((await view()).scale, v0.fit * 1.25 ** 2, "+ twice");
    await dialog.getByRole("button", { name: "Agrandir" }).click();
    near((await view()).scale, v0.fit * 1.25 ** 3, "the Agrandir button");
    await page.keyboard.press("-");
    near((await view()).scale, v0.fit * 1.25 ** 2, "−");
    await dialog.getByRole("button", { name: "Réduire" }).click();
    near((await view()).scale, v0.fit * 1.25, "the Réduire button");
    const label = await dialog.locator("output").textContent();
    assert.equal(label, `Zoom : ${Math.round(v0.fit * 1.25 * 100)} %`);

    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowDown");
    assert.deepEqual([(await view()).x, (await view()).y], [-48, -48], "the arrows move the view");
    await page.keyboard.press("0");
    const fitted = await view();
    assert.deepEqual([fitted.scale, fitted.x, fitted.y], [v0.fit, 0, 0], "0 fits it again");
    await dialog.getByRole("button", { name: "Agrandir" }).click();
    await dialog.getByRole("button", { name: "Ajuster" }).click();
    assert.equal((await view()).scale, v0.fit, "the Ajuster button");

    // The wheel zooms around the pointer; a drag pans.
    const box = await page.locator(".viewer-stage").boundingBox();
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    await page.mouse.move(cx + 100, cy + 50);
    await page.mouse.wheel(0, -300);
    await page.waitForFunction((s) => tv.viewer.view.scale > s, v0.fit);
    const w = await view();
    near(w.x, 100 - 100 * (w.scale / v0.fit), "the point under the pointer stays put (x)", 1);
    near(w.y, 50 - 50 * (w.scale / v0.fit), "the point under the pointer stays put (y)", 1);
    await page.mouse.move(cx, cy);
    await page.mouse.down();
    await page.mouse.move(cx - 120, cy - 60, { steps: 5 });
    await page.mouse.up();
    const d = await view();
    assert.deepEqual([Math.round(d.x - w.x), Math.round(d.y - w.y)], [-120, -60], "a drag moves the image with the pointer");
    await page.screenshot({ path: join(shots, "viewer-2-zoomed.png") });

    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => document.activeElement.id), "open", "Escape gives focus back");
    assert.equal(await page.evaluate(() => tv.closed), 1);

    // --------------------------------------------------------------- PDF
    await page.evaluate(() => tv.open("pdf"));
    const pdfDialog = page.getByRole("dialog", { name: "compte-rendu.pdf" });
    await pdfDialog.waitFor();
    const frame = pdfDialog.locator("iframe");
    assert.match(await frame.getAttribute("src"), /^blob:http:\/\/127\.0\.0\.1:\d+\//);
    assert.equal(await frame.getAttribute("title"), "Document PDF compte-rendu.pdf");
    assert.equal(await page.evaluate(() => document.activeElement.tagName), "IFRAME");
    await page.waitForFunction(() => tv.frameLoaded);
    // Chromium's PDF viewer renders inside: wait for its page thumbnail.
    let pdfViewer;
    for (let i = 0; i < 200 && !pdfViewer; i++) {
      pdfViewer = page.frames().find((f) => f.url().startsWith("chrome-extension://"));
      if (!pdfViewer) await page.waitForTimeout(50);
    }
    assert.ok(pdfViewer, "the PDF is shown by the browser's PDF viewer");
    await pdfViewer.locator("viewer-thumbnail").first().waitFor({ timeout: 15000 });
    await page.screenshot({ path: join(shots, "viewer-3-pdf.png") });
    await pdfDialog.getByRole("button", { name: "Fermer" }).click();
    await pdfDialog.waitFor({ state: "detached" });

    // ------------------------------------------------------------- DICOM
    await page.evaluate(() => tv.open("dicom"));
    const dcmDialog = page.getByRole("dialog", { name: "examen.dcm" });
    await dcmDialog.waitFor();
    const link = dcmDialog.getByRole("link", { name: /^Télécharger examen\.dcm/ });
    assert.equal(await link.getAttribute("download"), "examen.dcm");
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute("download")), "examen.dcm", "focus on the link");
    assert.equal(await dcmDialog.locator("iframe, img").count(), 0);
    await page.screenshot({ path: join(shots, "viewer-4-dicom.png") });
    const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
    assert.equal(download.suggestedFilename(), "examen.dcm");
    assert.deepEqual(readFileSync(await download.path()), dicom, "the download is the file");
    await page.keyboard.press("Escape");
    await dcmDialog.waitFor({ state: "detached" });

    // Never inline: an HTML file, a javascript: URL. English labels.
    assert.equal(await page.evaluate(() => tv.open("html")), "download");
    assert.equal(await page.locator("dialog iframe, dialog img").count(), 0);
    await page.keyboard.press("Escape");
    assert.match(await page.evaluate(() => tv.openUrl("javascript:alert(1)")), /refused URL scheme/);
    await page.evaluate(() => (tv.lang = "en") && tv.open("png"));
    await page.getByRole("dialog").getByRole("button", { name: "Zoom in" }).waitFor();
    await page.keyboard.press("Escape");
    await page.locator("dialog").waitFor({ state: "detached" });
  } finally {
    await browser.close();
    await server.close();
  }
});
