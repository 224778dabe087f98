// Degraded modes in headless Chromium: the patient leaves a call-back
// number on the device screen, the call runs with stats reported every
// 2 s, the patient switches to audio only and back, then the professional
// switches to the phone route and reads the number on the page. The
// professional's incident list stays empty on this healthy link. The
// trace verifies and holds each mode change once, the number sealed, and
// `trace show` lists the mode changes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bin, shots, launchChromium, startDemo, stopDemo, waitHealthy, expectPlaying, verifiedEvents } from "./helpers.mjs";

test("audio only, back to video, then the phone route, all traced", { timeout: 120000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-modes-"));
  const port = 19443 + Math.floor(Math.random() * 1000);
  const { child, links, act } = await startDemo(data, port);
  await waitHealthy(port);
  const browser = await launchChromium();
  try {
    const pro = await browser.newPage();
    const patient = await browser.newPage();
    await pro.goto(links.professional);
    await pro.getByRole("button", { name: "Continuer" }).click();
    await patient.goto(links.patient);
    await patient.getByLabel(/Numéro de téléphone/).fill("06 00 00 00 01");
    await patient.getByRole("button", { name: "Continuer" }).click();
    await patient.getByRole("button", { name: "J'accepte" }).click();
    await pro.getByRole("button", { name: /Faire entrer/ }).click({ timeout: 10000 });
    await expectPlaying(pro, "#remotes video");
    await expectPlaying(patient, "#remotes video");
    // A few stats reports go by on a healthy link: no incident.
    await pro.waitForTimeout(5000);
    assert.equal(await pro.locator("#incidents li").count(), 0);
    assert.ok(await pro.locator("#incidents-none").isVisible());

    const audioOnly = patient.getByRole("button", { name: "Audio seulement" });
    await audioOnly.click();
    await patient.getByText("Vidéo coupée, le son continue.").waitFor();
    // The page switches at once; the server's confirmation comes after.
    await patient.locator('body[data-unconfirmed="0"]').waitFor();
    // The patient's camera track is off; the professional's remote video
    // stops receiving frames.
    const sent = await patient.evaluate(() => document.querySelector("#local").srcObject.getVideoTracks().map((t) => t.enabled));
    assert.deepEqual(sent, [false]);
    await patient.screenshot({ path: join(shots, "modes-1-patient-audio-only.png") });
    await patient.getByRole("button", { name: "Rétablir la vidéo" }).click();
    await patient.getByRole("button", { name: "Audio seulement" }).waitFor();
    // Recorded before the professional's phone route, whose frame comes on
    // another connection: wait for the server's confirmation, not the page.
    await patient.locator('body[data-unconfirmed="0"]').waitFor();

    await pro.getByRole("button", { name: "Appeler par téléphone" }).click();
    await pro.getByText("Rappeler au : 0600000001").waitFor({ timeout: 10000 });
    await patient.getByText(/va vous appeler par téléphone/).waitFor({ timeout: 10000 });
    await pro.screenshot({ path: join(shots, "modes-2-professional-phone-route.png"), fullPage: true });
    assert.equal(await patient.getByText("0600000001").count(), 0, "the patient's page never shows the number");

    await pro.getByLabel("Compte rendu").fill("Examen fictif, poursuivi par téléphone.");
    await pro.getByRole("button", { name: "Terminer l'acte" }).click();
    await pro.getByRole("heading", { name: "Consultation terminée" }).waitFor();
  } finally {
    await browser.close();
    await stopDemo(child);
  }

  const events = verifiedEvents(data, act);
  const modes = events.filter((e) => e.kind === "mode_changed").map((e) => [e.event.mode, e.event.cause]);
  assert.deepEqual(modes, [["audio_only", "manual"], ["video", "manual"], ["phone", "manual"]]);
  const numbers = events.filter((e) => e.kind === "callback_number_given");
  assert.equal(numbers.length, 1);
  assert.equal(numbers[0].event.number, "0600000001");
  const text = spawnSync(bin, ["--data", data, "trace", "show", act], { encoding: "utf8" });
  assert.match(text.stdout, /mode changes \(3\):/);
  assert.match(text.stdout, /p2 -> phone \(manual, by p1\)/);
});
