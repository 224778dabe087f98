// The asynchronous téléexpertise from the professional's page: no live
// session. The expert first asks for more (the text is required), the
// requester reads the request for more and attaches a document from the
// detail; the expert accepts, starts the review and writes the report with
// prescriptions; the act concludes. The requester sees the answer (in
// French, then in English). axe on each view; `trace verify` passes and
// the trace holds the request, both answers, the review and the conclusion.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkA11y, launchChromium, shots, startDemo, stopDemo, verifiedEvents, waitHealthy } from "./helpers.mjs";
import { EXPERT, REQUESTER, addProfessional, chooseFiles, fillRequest, makeDicom, makeJpeg, noticeSays, proPage, sha256 } from "./pro-helpers.mjs";

const REPORT = "Cliché de face : pas de lésion osseuse visible. Interligne fémoro-tibial interne discrètement pincé. Avis : IRM du genou gauche si la douleur persiste au-delà de six semaines.";

test("the expert answers in writing without a live session; the requester reads the answer", { timeout: 240000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const requester = addProfessional(data, REQUESTER);
  const expert = addProfessional(data, EXPERT);
  const port = 25443 + Math.floor(Math.random() * 1000);
  const { child } = await startDemo(data, port);
  await waitHealthy(port);
  const browserA = await launchChromium();
  const browserB = await launchChromium();
  try {
    // The request, without documents.
    const a = await proPage(browserA, port, requester, "requester");
    await a.getByRole("button", { name: "Nouvelle demande de téléexpertise" }).click();
    await fillRequest(a, { question: "Avis sur une gonalgie gauche chez un adulte sportif : faut-il une IRM ?", urgency: "Programmée" });
    assert.match(await a.getByRole("radio", { name: /^Programmée/ }).evaluate((r) => r.labels[0].textContent), /sous 7 jours/);
    await a.getByRole("button", { name: "Envoyer la demande" }).click();
    await noticeSays(a, "Demande envoyée, sans document.");
    await a.getByRole("button", { name: "Ouvrir la demande" }).click();
    await a.waitForFunction(() => document.activeElement?.id === "detail-title");
    const act = await a.locator("#detail").getAttribute("data-act");
    await a.getByText("L'expert n'a pas encore répondu.").waitFor();

    // The expert asks for more; the text is required.
    const b = await proPage(browserB, port, expert, "expert");
    await b.getByRole("button", { name: /^Ouvrir Téléexpertise du / }).click();
    await b.waitForFunction(() => document.activeElement?.id === "detail-title");
    await b.getByRole("button", { name: "Demander des compléments" }).click();
    await b.locator("#more-what-error").filter({ hasText: "Ce champ est obligatoire." }).waitFor();
    assert.equal(await b.evaluate(() => document.activeElement?.id), "more-what");
    await b.getByLabel("Compléments demandés").fill("Le cliché de profil, s'il vous plaît.");
    await b.getByRole("button", { name: "Demander des compléments" }).click();
    await noticeSays(b, "Compléments demandés au requérant.");
    await b.getByRole("listitem").filter({ hasText: "compléments demandés : Le cliché de profil" }).waitFor();

    // The requester reads it and attaches the profile view from the detail.
    await a.getByRole("button", { name: "Retour à la liste" }).click();
    // (The list reloads as it is shown: wait for the new state.)
    await a.locator("#sent tbody tr td").filter({ hasText: /^demande, compléments demandés$/ }).waitFor();
    await a.getByRole("button", { name: /^Ouvrir Téléexpertise du / }).click();
    await a.getByRole("listitem").filter({ hasText: "compléments demandés : Le cliché de profil, s'il vous plaît." }).waitFor();
    const profile = await makeJpeg(a, { width: 900, height: 1200, label: "Genou gauche, profil (fictif)" });
    const dicom = makeDicom();
    await chooseFiles(a, [
      { name: "genou-profil.jpg", mimeType: "image/jpeg", buffer: profile },
      { name: "irm-serie1.dcm", mimeType: "application/dicom", buffer: dicom },
    ]);
    await a.getByRole("button", { name: "Joindre les documents" }).click();
    await noticeSays(a, "2 document(s) ajouté(s) sur 2.");
    await a.getByRole("button", { name: "Ouvrir genou-profil.jpg" }).waitFor();
    // DICOM is offered as a download, served as an attachment.
    const download = a.getByRole("link", { name: "Télécharger irm-serie1.dcm" });
    assert.equal(await download.getAttribute("download"), "irm-serie1.dcm");
    const served = await a.evaluate(async (href) => {
      const res = await fetch(href);
      return { status: res.status, type: res.headers.get("content-type"), disposition: res.headers.get("content-disposition"), size: (await res.arrayBuffer()).byteLength };
    }, await download.getAttribute("href"));
    assert.equal(served.status, 200);
    assert.equal(served.type, "application/dicom");
    assert.match(served.disposition, /^attachment/);
    assert.equal(served.size, dicom.length);
    await checkA11y(a, "pro: detail (requester, document added)");

    // The expert accepts, starts the review, writes the report.
    await b.getByRole("button", { name: "Retour à la liste" }).click();
    await b.getByRole("button", { name: /^Ouvrir Téléexpertise du / }).click();
    await b.getByRole("button", { name: "Ouvrir genou-profil.jpg" }).waitFor();
    await b.getByRole("button", { name: "Accepter" }).click();
    await noticeSays(b, "Demande acceptée.");
    await b.getByRole("button", { name: "Commencer l'examen" }).click();
    await noticeSays(b, "Examen commencé : rédigez votre réponse.");
    await b.waitForFunction(() => document.activeElement?.id === "report-form-title");
    await checkA11y(b, "pro: written answer form");
    // The report is required.
    await b.getByRole("button", { name: "Envoyer la réponse" }).click();
    await b.locator("#report-error").filter({ hasText: "Ce champ est obligatoire." }).waitFor();
    await b.getByLabel("Compte rendu").fill(REPORT);
    await b.getByLabel("Examens prescrits").fill("IRM du genou gauche");
    await b.getByLabel("Médicaments prescrits").fill("Paracétamol 1 g, si douleur, 3 fois par jour au plus");
    // (A viewport shot: a full-page one here left the next click off its button.)
    await b.locator("#report-form").scrollIntoViewIfNeeded();
    await b.screenshot({ path: join(shots, "worklist-8-report-form.png") });
    await b.getByRole("button", { name: "Envoyer la réponse" }).click();
    await noticeSays(b, "Réponse envoyée : l'acte est conclu.");
    await b.waitForFunction(() => document.activeElement?.id === "report-title");
    assert.match(await b.locator("#detail-body dl").textContent(), /clôturé/);

    // The requester sees the answer.
    await a.getByRole("button", { name: "Retour à la liste" }).click();
    await a.locator("#sent tbody tr td").filter({ hasText: /^clôturé, acceptée$/ }).waitFor();
    await a.getByRole("button", { name: /^Ouvrir Téléexpertise du / }).click();
    const answer = a.getByRole("region", { name: "Réponse de l'expert" });
    await answer.getByText(REPORT).waitFor();
    await answer.getByText("Examen : IRM du genou gauche").waitFor();
    await answer.getByText(/^Médicament : Paracétamol/).waitFor();
    await checkA11y(a, "pro: the expert's answer (requester)");
    await a.screenshot({ path: join(shots, "worklist-9-answer.png"), fullPage: true });

    // In English, every shown sentence follows.
    await a.getByRole("button", { name: "Switch to English" }).click();
    await a.getByRole("region", { name: "Expert's answer" }).getByText("Examination: IRM du genou gauche").waitFor();
    assert.equal(await a.evaluate(() => document.documentElement.lang), "en");
    await a.getByRole("heading", { name: /^Tele-expertise of / }).waitFor();
    await checkA11y(a, "pro: the expert's answer, in English");
    await a.getByRole("button", { name: "Passer en français" }).click();

    // The trace verifies and holds the whole path.
    const events = verifiedEvents(data, act);
    const kinds = events.map((e) => e.kind);
    for (const k of ["expertise_requested", "expert_answered", "attachment_added", "review_started", "concluded"]) {
      assert.ok(kinds.includes(k), `${k} in ${kinds.join(", ")}`);
    }
    assert.equal(kinds.filter((k) => k === "expert_answered").length, 2, "asked for more, then accepted");
    const attached = JSON.stringify(events.filter((e) => e.kind === "attachment_added"));
    assert.ok(attached.includes(sha256(profile)) && attached.includes(sha256(dicom)), "both documents' SHA-256 in the trace");
    assert.ok(kinds.indexOf("review_started") < kinds.indexOf("concluded"));
  } finally {
    await browserA.close();
    await browserB.close();
    await stopDemo(child);
  }
});
