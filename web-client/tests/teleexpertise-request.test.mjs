// The téléexpertise request from the professional's page: the requester
// signs in, creates a request with a PDF and a JPEG attached and attests
// the patient's consent (the form takes their name and RPPS from their
// account); each upload shows its progress and ends
// « ajouté ». The expert signs in, finds it among the requests received
// (urgency, time left, 2 documents), and, by keyboard alone, opens it,
// opens the image in the viewer (zoom once), and accepts. axe on each view; screenshots of the
// work lists, the form, the detail and the viewer. The trace verifies and
// holds the request, both attachments (their SHA-256 the files') and the
// acceptance.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkA11y, launchChromium, shots, startDemo, stopDemo, verifiedEvents, waitHealthy } from "./helpers.mjs";
import { EXPERT, REQUESTER, addProfessional, chooseFiles, fillRequest, makeJpeg, makePdf, noticeSays, proPage, sha256, tabTo } from "./pro-helpers.mjs";

test("a requester sends a téléexpertise with documents; the expert views the image and accepts", { timeout: 240000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const requester = addProfessional(data, REQUESTER);
  const expert = addProfessional(data, EXPERT);
  const port = 24443 + Math.floor(Math.random() * 1000);
  const { child } = await startDemo(data, port);
  await waitHealthy(port);
  const browserA = await launchChromium();
  const browserB = await launchChromium();
  try {
    // --- The requester.
    const a = await proPage(browserA, port, requester, "requester");
    await checkA11y(a, "pro: work list (requester, before)");

    await a.getByRole("button", { name: "Nouvelle demande de téléexpertise" }).click();
    await a.waitForFunction(() => document.activeElement?.id === "new-title");
    // The account holds the requester's name and RPPS (GET /api/session
    // gives them): the form does not ask for them again.
    assert.equal(await a.locator("#self-fields").isHidden(), true, "« Vous » is hidden");
    assert.equal(await a.locator("#self-name").inputValue(), REQUESTER.name);
    assert.equal(await a.locator("#self-rpps").inputValue(), REQUESTER.rpps);
    await checkA11y(a, "pro: new request form");

    // Sent empty, the form says what is missing, in place.
    await a.getByRole("button", { name: "Envoyer la demande" }).click();
    await a.getByRole("alert").filter({ hasText: "corrigez les champs signalés" }).waitFor();
    assert.equal(await a.evaluate(() => document.activeElement?.getAttribute("aria-invalid")), "true");
    await checkA11y(a, "pro: new request form with errors");

    const jpeg = await makeJpeg(a);
    const pdf = makePdf();
    await fillRequest(a, { question: "Gonalgie gauche depuis trois semaines, sans traumatisme. Lésion méniscale sur le cliché ? Conduite à tenir ?", urgency: "Urgente" });
    // The delay the urgency implies is shown: 24 hours from now.
    assert.match(await a.locator("#urgency-due").textContent(), /^Réponse attendue avant le /);
    assert.match(await a.getByRole("radio", { name: /^Urgente/ }).evaluate((r) => r.labels[0].textContent), /sous 24 heures/);
    await chooseFiles(a, [
      { name: "genou-face.jpg", mimeType: "image/jpeg", buffer: jpeg },
      { name: "compte-rendu-radio.pdf", mimeType: "application/pdf", buffer: pdf },
    ]);
    await a.locator("#new-files-list li").nth(1).waitFor();
    const listed = await a.locator("#new-files-list li").allTextContents();
    assert.match(listed[0], /genou-face\.jpg \(\d+(,\d)?\sko\)/, listed[0]);
    assert.match(listed[1], /compte-rendu-radio\.pdf \(\d+\soctets\)/, listed[1]);
    await checkA11y(a, "pro: new request form filled");
    await a.screenshot({ path: join(shots, "worklist-2-new-request.png"), fullPage: true });

    await a.getByRole("button", { name: "Envoyer la demande" }).click();
    await a.waitForFunction(() => document.activeElement?.id === "sending-title");
    await noticeSays(a, "Demande envoyée : 2 document(s) ajouté(s) sur 2.");
    const states = await a.locator("#sending-files li").evaluateAll((lis) => lis.map((li) => li.dataset.state));
    assert.deepEqual(states, ["done", "done"]);
    // Each upload's progress reached its end.
    assert.deepEqual(await a.locator("#sending-files progress").evaluateAll((ps) => ps.map((p) => p.value)), [100, 100]);
    await checkA11y(a, "pro: request sent");
    await a.screenshot({ path: join(shots, "worklist-3-sent.png"), fullPage: true });

    await a.getByRole("button", { name: "Retour à la liste" }).click();
    await a.waitForFunction(() => document.activeElement?.id === "acts-title");
    const sentRow = a.locator("#sent tbody tr").first();
    await sentRow.waitFor();
    const sentCells = await sentRow.locator("th, td").allTextContents();
    assert.match(sentCells[0], /^Téléexpertise du /);
    assert.equal(sentCells[1], "demande, sans réponse");
    assert.equal(sentCells[2], "Urgente");
    assert.match(sentCells[3], /^reste (23 h \d+ min|1 j 0 h)avant le /);
    assert.equal(sentCells[4], "2");
    await checkA11y(a, "pro: work list (requester)");
    await a.screenshot({ path: join(shots, "worklist-1-requester.png"), fullPage: true });

    // --- The expert.
    const b = await proPage(browserB, port, expert, "expert");
    const row = b.locator("#received tbody tr").first();
    await row.waitFor();
    const cells = await row.locator("th, td").allTextContents();
    assert.equal(cells[1], "demande, sans réponse");
    assert.equal(cells[2], "Urgente");
    assert.equal(cells[4], "2");
    assert.equal(await b.locator("#sent tbody tr").count(), 0, "nothing sent by the expert");
    await checkA11y(b, "pro: work list (expert)");
    await b.screenshot({ path: join(shots, "worklist-4-expert.png"), fullPage: true });

    // The row's buttons name their act.
    // The expert works by keyboard alone: Tab to the row's « Ouvrir », Enter.
    await tabTo(b, /^Ouvrir Téléexpertise du /);
    await b.keyboard.press("Enter");
    await b.waitForFunction(() => document.activeElement?.id === "detail-title");
    await b.getByText("Lésion méniscale sur le cliché ?", { exact: false }).waitFor();
    await checkA11y(b, "pro: request detail (expert)");
    await b.screenshot({ path: join(shots, "worklist-5-detail.png"), fullPage: true });

    // The image, in the viewer (by keyboard): zoom in once with « + ».
    await tabTo(b, /^Ouvrir genou-face\.jpg$/);
    await b.keyboard.press("Enter");
    const dialog = b.getByRole("dialog", { name: "genou-face.jpg" });
    await dialog.waitFor();
    await b.waitForFunction(() => document.querySelector("dialog.viewer img")?.naturalWidth === 1200);
    await b.waitForFunction(() => Number(document.querySelector("dialog.viewer")?.dataset.scale) > 0);
    const before = Number(await dialog.getAttribute("data-scale"));
    await b.keyboard.press("+");
    const after = Number(await dialog.getAttribute("data-scale"));
    assert.ok(Math.abs(after / before - 1.25) < 0.01, `zoomed ${before} -> ${after}`);
    await checkA11y(b, "pro: viewer");
    await b.screenshot({ path: join(shots, "worklist-6-viewer.png") });
    await b.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.equal(await b.evaluate(() => document.activeElement?.textContent), "Ouvrir", "focus back on the document's button");

    // The PDF opens in the viewer, in a frame of its blob: URL (DESIGN.md;
    // the page's policy allows blob: frames, the document's own answer may
    // not be framed).
    {
      const refused = new Promise((resolve) => {
        b.on("console", (m) => /^(Framing|Refused to (display|frame))/.test(m.text()) && resolve(m.text()));
      });
      await b.getByRole("button", { name: "Ouvrir compte-rendu-radio.pdf" }).click();
      const pdfDialog = b.getByRole("dialog", { name: "compte-rendu-radio.pdf" });
      try {
        const frame = pdfDialog.locator("iframe");
        await frame.waitFor();
        // Either the frame loads, or the browser says it refused it.
        const content = await (await frame.elementHandle()).contentFrame();
        const loaded = content.waitForLoadState("load", { timeout: 15000 }).then(() => null);
        const outcome = await Promise.race([loaded, refused]);
        await b.screenshot({ path: join(shots, "worklist-6b-viewer-pdf.png") });
        assert.equal(outcome, null, `the PDF frame was refused: ${outcome}`);
      } finally {
        await pdfDialog.getByRole("button", { name: "Fermer" }).click();
        await pdfDialog.waitFor({ state: "detached" });
      }
    }

    // Accept (Tab, Enter): the answer is said, and the review comes next.
    await b.locator("#detail-title").focus();
    await tabTo(b, /^Accepter$/);
    await b.keyboard.press("Enter");
    await noticeSays(b, "Demande acceptée.");
    await b.waitForFunction(() => document.activeElement?.id === "review-title");
    await b.getByRole("button", { name: "Commencer l'examen" }).waitFor();
    await b.getByRole("listitem").filter({ hasText: "demande acceptée." }).waitFor();
    await checkA11y(b, "pro: detail after accepting");
    await b.screenshot({ path: join(shots, "worklist-7-accepted.png"), fullPage: true });

    // The requester sees the acceptance in the list.
    await a.getByRole("button", { name: "Actualiser la liste" }).click();
    await noticeSays(a, /Liste à jour/);
    assert.equal(await a.locator("#sent tbody tr").first().locator("td").first().textContent(), "préparation, acceptée");

    const act = await b.locator("#detail").getAttribute("data-act");
    // « Rejoindre » takes the expert to the live session with their own link.
    await b.getByRole("button", { name: "Rejoindre" }).click();
    await b.waitForURL(/\/join/);

    // The trace: the request, both documents (the files' SHA-256), the acceptance.
    const events = verifiedEvents(data, act);
    const kinds = events.map((e) => e.kind);
    assert.ok(kinds.includes("expertise_requested"), kinds.join(", "));
    const attached = events.filter((e) => e.kind === "attachment_added").map((e) => JSON.stringify(e));
    assert.equal(attached.length, 2, kinds.join(", "));
    assert.ok(attached.some((e) => e.includes(sha256(jpeg))), "the JPEG's SHA-256 is in the trace");
    assert.ok(attached.some((e) => e.includes(sha256(pdf))), "the PDF's SHA-256 is in the trace");
    const answered = events.filter((e) => e.kind === "expert_answered");
    assert.equal(answered.length, 1);
    assert.match(JSON.stringify(answered[0]), /accepted/);
    // The attestation came before the documents.
    assert.ok(kinds.findIndex((k) => k.startsWith("consent")) < kinds.indexOf("attachment_added"), kinds.join(", "));
  } finally {
    await browserA.close();
    await browserB.close();
    await stopDemo(child);
  }
});
