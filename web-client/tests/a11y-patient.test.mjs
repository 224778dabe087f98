// axe-core on every screen of the patient's path, as the pages show them:
// the link, the device and connection check, the consent, the waiting room,
// the call and the end, and the professional's call page beside it; then a
// link that cannot join, whose error the page says in French (and English
// once switched), not in the server's English. Any serious or critical
// violation fails (helpers.mjs `checkA11y`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ERRORS } from "../i18n.js";
import { checkA11y, expectPlaying, launchChromium, shots, startDemo, stopDemo, waitHealthy } from "./helpers.mjs";

test("every screen of the patient's path passes axe, in French and English", { timeout: 180000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const port = 21443 + Math.floor(Math.random() * 1000);
  const { child, links } = await startDemo(data, port);
  await waitHealthy(port);
  const browser = await launchChromium();
  const shot = (page, name) => page.screenshot({ path: join(shots, `a11y-${name}.png`), fullPage: true });
  try {
    const patient = await browser.newPage();
    await patient.goto(links.patient);
    await patient.getByRole("heading", { name: "Vérifiez votre caméra et votre micro" }).waitFor();
    // The connection test's verdict and its details table.
    await patient.waitForFunction(
      () => ["good", "limited", "failed", "error"].includes(document.querySelector("#nettest-summary")?.dataset.verdict),
      null,
      { timeout: 60000 },
    );
    await patient.locator("#nettest-details summary").click();
    await checkA11y(patient, "patient: devices and connection check");
    await shot(patient, "1-devices");

    await patient.getByRole("button", { name: "Continuer" }).click();
    await patient.getByRole("heading", { name: "Votre consentement" }).waitFor();
    await patient.locator("#consent-text", { hasText: "J'accepte que cette téléconsultation" }).waitFor();
    await checkA11y(patient, "patient: consent");
    await shot(patient, "2-consent");

    await patient.getByRole("button", { name: "J'accepte" }).click();
    await patient.getByRole("heading", { name: "Salle d'attente" }).waitFor();
    await checkA11y(patient, "patient: waiting room");
    await shot(patient, "3-waiting");

    const pro = await browser.newPage();
    await pro.goto(links.professional);
    await pro.getByRole("button", { name: "Continuer" }).click();
    const admit = pro.getByRole("button", { name: /Faire entrer/ });
    await admit.waitFor({ timeout: 15000 });
    await checkA11y(pro, "professional: call page, patient waiting");
    await shot(pro, "4-pro-waiting");

    await admit.click();
    await expectPlaying(patient, "#remotes video");
    await expectPlaying(pro, "#remotes video");
    await patient.getByRole("heading", { name: "Consultation en cours" }).waitFor();
    await patient.locator("#quality", { hasText: "Connexion" }).waitFor({ timeout: 15000 });
    await checkA11y(patient, "patient: call");
    await shot(patient, "5-patient-call");
    await checkA11y(pro, "professional: call");
    await shot(pro, "6-pro-call");

    // English: every string follows, and so does the page's language.
    await patient.getByRole("button", { name: "Switch to English" }).click();
    await patient.getByRole("heading", { name: "Consultation in progress" }).waitFor();
    assert.equal(await patient.getAttribute("html", "lang"), "en");
    assert.match(await patient.locator("#quality").textContent(), /^Connection: /);
    assert.equal(await patient.getByRole("button", { name: "Passer en français" }).getAttribute("lang"), "fr");
    await checkA11y(patient, "patient: call, in English");
    await shot(patient, "7-patient-call-en");
    await patient.getByRole("button", { name: "Passer en français" }).click();
    assert.equal(await patient.getAttribute("html", "lang"), "fr");

    await pro.getByLabel("Compte rendu").fill("Examen fictif sans particularité.");
    await pro.getByRole("button", { name: "Terminer l'acte" }).click();
    await patient.getByRole("heading", { name: "Consultation terminée" }).waitFor();
    await pro.getByRole("heading", { name: "Consultation terminée" }).waitFor();
    await checkA11y(patient, "patient: end");
    await shot(patient, "8-ended");
    await checkA11y(pro, "professional: end");

    // A link the server refuses: its code, said in the page's language.
    const broken = await browser.newPage();
    await broken.goto(links.patient.replace(/#.*/, "#v1.AAAA.BBBB"));
    await broken.getByRole("heading", { name: "Impossible de rejoindre" }).waitFor();
    assert.equal(await broken.locator("#error-text").textContent(), ERRORS.fr.api.invitation_invalid);
    await checkA11y(broken, "link refused");
    await shot(broken, "9-link-refused");
    await broken.getByRole("button", { name: "Switch to English" }).click();
    assert.equal(await broken.locator("#error-text").textContent(), ERRORS.en.api.invitation_invalid);
    assert.equal(await broken.getAttribute("html", "lang"), "en");
    assert.equal(await broken.title(), "Cannot join — Teleconsultation");
  } finally {
    await browser.close();
    await stopDemo(child);
  }
});
