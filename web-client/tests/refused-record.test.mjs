// A recorded message the server refuses is not taken as delivered (issue
// 12, points 4 and 9). The server runs with a budget of one trace event per
// participant: the act's first consent always passes, a withdrawal always
// passes, but a consent given again after the withdrawal is budgeted and
// refused (`error` `refused`). The page must say the consent was not
// recorded and must be given again, with the buttons usable, instead of
// dropping the entry at the next pong and leaving the patient untold.
//
// Before the fix the outbox dropped the refused consent at the pong that
// followed it and the `error` only went to the console: the consent
// screen stayed silent.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium, shots, startDemo, stopDemo, verifiedEvents } from "./helpers.mjs";

test("a consent refused by the event budget is announced as not recorded", { timeout: 180000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const settings = join(mkdtempSync(join(tmpdir(), "tc-cfg-")), "settings.toml");
  writeFileSync(settings, "[http]\ntrace_events_per_participant = 1\n");
  const port = 24443 + Math.floor(Math.random() * 1000);
  let demo;
  let browser;
  try {
    demo = await startDemo(data, port, { extra: ["--relay-port", "0", "--config", settings] });
    const { links, act } = demo;
    browser = await launchChromium();
    const pro = await browser.newPage();
    const patient = await browser.newPage();
    await pro.goto(links.professional);
    await pro.getByRole("button", { name: "Continuer" }).click();
    await patient.goto(links.patient);
    await patient.getByRole("button", { name: "Continuer" }).click();

    // The first consent passes, the patient is admitted, then withdraws.
    const accept = patient.getByRole("button", { name: "J'accepte" });
    await accept.waitFor({ timeout: 15000 });
    await patient.waitForFunction(() => !document.getElementById("consent-accept").disabled, null, { timeout: 15000 });
    await accept.click();
    await pro.getByRole("button", { name: /Faire entrer/ }).click({ timeout: 15000 });
    await patient.getByRole("button", { name: "Retirer mon consentement" }).click({ timeout: 15000 });

    // Back on the consent screen, connected again: a second consent is
    // over the budget.
    await accept.waitFor({ timeout: 20000 });
    await patient.waitForFunction(() => !document.getElementById("consent-accept").disabled, null, { timeout: 20000 });
    await accept.click();

    // The page says it was not recorded, in French, where a screen reader
    // reads it, and lets the patient give it again.
    const note = patient.locator("#consent-wait[data-state=failed]");
    await note.filter({ hasText: "n'a pas été enregistré" }).waitFor({ timeout: 15000 });
    assert.equal(await note.getAttribute("aria-live"), "polite");
    await patient.waitForFunction(() => document.body.dataset.unconfirmed === "0", null, { timeout: 5000 });
    assert.ok(await accept.isEnabled(), "the consent can be given again");
    assert.ok(await patient.getByRole("heading", { name: "Votre consentement" }).isVisible());
    await patient.screenshot({ path: join(shots, "refused-record-consent.png") });

    // The trace holds the first consent and the withdrawal, nothing more.
    await stopDemo(demo.child);
    demo = null;
    const events = verifiedEvents(data, act);
    assert.equal(events.filter((e) => e.kind === "consent_given").length, 1);
    assert.equal(events.filter((e) => e.kind === "consent_withdrawn").length, 1);
  } catch (e) {
    // Say where each page stood and what the server said (its log holds
    // no patient's identity) before failing.
    for (const page of browser?.pages() ?? []) {
      const text = await page.evaluate(() => document.body.innerText).catch(() => "");
      console.log(`page ${page.url().split(/[?#]/)[0]}:\n${text.slice(0, 1500)}`);
      await page.screenshot({ path: join(shots, `refused-record-failed-${Date.now()}.png`) }).catch(() => {});
    }
    console.log(`server output (end):\n${demo?.child.output?.().slice(-4000) ?? ""}`);
    throw e;
  } finally {
    await browser?.close().catch(() => {});
    if (demo) await stopDemo(demo.child).catch(() => {});
  }
});
