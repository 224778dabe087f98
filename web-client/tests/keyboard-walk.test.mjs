// The patient's path from the link to the call with the keyboard alone
// (Tab, Shift+Tab, Enter, Space), as a screen-reader user walks it: each
// new screen puts the focus on its heading; the consent text is a stop
// before « J'accepte », which it describes; the admission and the end are
// said once in the live region; the quality line is written only when the
// grade changes; and every control the walk reaches shows a focus ring of
// 3:1 or more against what it is drawn on. The professional admits by
// keyboard too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { STRINGS } from "../i18n.js";
import { expectPlaying, focusRing, launchChromium, shots, startDemo, stopDemo, waitHealthy } from "./helpers.mjs";

// Records, from the page's start, every text the live region and the
// quality line are given (a write of the same text counts: screen readers
// say it again).
function recordLiveRegions() {
  window.__live = { announcer: [], quality: [] };
  addEventListener("DOMContentLoaded", () => {
    for (const id of ["announcer", "quality"]) {
      const el = document.getElementById(id);
      new MutationObserver(() => window.__live[id].push(el.textContent)).observe(el, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    }
  });
}

const focused = (page) => page.evaluate(() => document.activeElement?.id ?? "");
const waitFocus = (page, id) =>
  page.waitForFunction((id) => document.activeElement?.id === id, id, { timeout: 20000 });

/** Tabs (forward, or back with `shift`) until `done(activeElement)`; checks each control's ring. */
async function tabUntil(page, done, { shift = false, max = 40, rings = [] } = {}) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(shift ? "Shift+Tab" : "Tab");
    const ring = await focusRing(page);
    rings.push(ring);
    if (await page.evaluate(done)) return ring;
  }
  assert.fail(`focus never got there: ${rings.map((r) => r.element).join(" → ")}`);
}

function assertRing(ring) {
  assert.ok(ring.visible, `${ring.element}: no :focus-visible`);
  assert.notEqual(ring.style, "none", `${ring.element}: no outline`);
  assert.ok(ring.width >= 2, `${ring.element}: outline ${ring.width}px`);
  assert.ok(ring.ratio >= 3, `${ring.element}: ring ${ring.outline} on ${ring.background} is ${ring.ratio.toFixed(2)}:1`);
}

test("keyboard only, from the link to the call and the end", { timeout: 180000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const port = 22443 + Math.floor(Math.random() * 1000);
  const { child, links } = await startDemo(data, port);
  await waitHealthy(port);
  const browser = await launchChromium();
  const rings = [];
  try {
    const patient = await browser.newPage();
    await patient.addInitScript(recordLiveRegions);
    await patient.goto(links.patient);

    // Device check: the heading has the focus. Once the connection test
    // is done, Tab to « Continuer » (through its details and « Refaire le
    // test »), Shift+Tab back to the details and Tab again.
    await waitFocus(patient, "devices-title");
    await patient.locator("#nettest-retry").waitFor({ timeout: 60000 });
    await tabUntil(patient, () => document.activeElement.id === "devices-ok", { rings });
    await tabUntil(patient, () => document.activeElement.tagName === "SUMMARY", { shift: true, rings });
    await tabUntil(patient, () => document.activeElement.id === "devices-ok", { rings });
    await patient.screenshot({ path: join(shots, "keyboard-1-devices-focus.png") });
    await patient.keyboard.press("Enter");

    // Consent: the heading, then the text, then « J'accepte », described by the text.
    await waitFocus(patient, "consent-title");
    assert.equal(await patient.evaluate(() => document.activeElement.textContent), "Votre consentement");
    await patient.keyboard.press("Tab");
    assert.equal(await focused(patient), "consent-text", "the consent text comes before the buttons");
    rings.push(await focusRing(patient));
    await patient.keyboard.press("Tab");
    assert.equal(await focused(patient), "consent-accept");
    rings.push(await focusRing(patient));
    const cdp = await patient.context().newCDPSession(patient);
    const { root } = await cdp.send("DOM.getDocument");
    const { nodeId } = await cdp.send("DOM.querySelector", { nodeId: root.nodeId, selector: "#consent-accept" });
    const { nodes } = await cdp.send("Accessibility.getPartialAXTree", { nodeId, fetchRelatives: false });
    const button = nodes.find((n) => n.role?.value === "button");
    assert.equal(button.name.value, "J'accepte");
    const consentText = await patient.locator("#consent-text").textContent();
    assert.ok(consentText.length > 100, consentText);
    assert.equal(button.description?.value, consentText, "« J'accepte » is described by the consent text");
    await patient.screenshot({ path: join(shots, "keyboard-2-consent-focus.png") });
    await patient.keyboard.press("Space");

    // Waiting room: its heading.
    await waitFocus(patient, "waiting-title");
    assert.equal(await patient.evaluate(() => document.activeElement.textContent), "Salle d'attente");

    // The professional, by keyboard too: « Continuer », then « Faire entrer ».
    const pro = await browser.newPage();
    await pro.goto(links.professional);
    await waitFocus(pro, "devices-title");
    await tabUntil(pro, () => document.activeElement.id === "devices-ok", { rings });
    await pro.keyboard.press("Enter");
    await waitFocus(pro, "call-title");
    await pro.getByRole("button", { name: /Faire entrer/ }).waitFor({ timeout: 15000 });
    await tabUntil(pro, () => /Faire entrer/.test(document.activeElement.textContent), { rings });
    await pro.screenshot({ path: join(shots, "keyboard-3-pro-admit-focus.png"), fullPage: true });
    await pro.keyboard.press("Enter");
    // Admitted, the button is gone: the focus goes to the list's heading, not the page.
    await waitFocus(pro, "participants-title");

    // The call: its heading, the admission said once.
    await patient.bringToFront();
    await waitFocus(patient, "call-title");
    await expectPlaying(patient, "#remotes video");
    // Every call control, then Shift+Tab from the heading to the blue bar's button.
    await tabUntil(patient, () => document.activeElement.id === "leave", { rings });
    await patient.screenshot({ path: join(shots, "keyboard-4-call-focus.png") });
    await patient.locator("#call-title").focus();
    await tabUntil(patient, () => document.activeElement.id === "lang", { shift: true, rings });
    await patient.screenshot({ path: join(shots, "keyboard-5-bar-focus.png") });
    // English and back, by Enter: the page's language follows.
    await patient.keyboard.press("Enter");
    await patient.waitForFunction(() => document.documentElement.lang === "en");
    assert.equal(await patient.locator("#call-title").textContent(), "Consultation in progress");
    rings.push(await focusRing(patient));
    await patient.keyboard.press("Enter");
    await patient.waitForFunction(() => document.documentElement.lang === "fr");

    // The quality line over five readings (10 s): written when the grade
    // changes, never twice the same in a row.
    await patient.waitForFunction(() => Number(document.body.dataset.qualityReads ?? 0) >= 5, null, { timeout: 30000 });
    const quality = await patient.evaluate(() => window.__live.quality);
    assert.ok(quality.length >= 1, "the quality is shown");
    for (let i = 1; i < quality.length; i++) assert.notEqual(quality[i], quality[i - 1], JSON.stringify(quality));

    // The end: its heading, and the end said once.
    await pro.getByLabel("Compte rendu").fill("Examen fictif sans particularité.");
    await pro.getByRole("button", { name: "Terminer l'acte" }).click();
    await waitFocus(patient, "ended-title");
    await patient.screenshot({ path: join(shots, "keyboard-6-ended-focus.png") });
    const said = await patient.evaluate(() => window.__live.announcer);
    assert.deepEqual(said, [STRINGS.fr.announce_admitted, STRINGS.fr.ended_text]);

    // Every control reached (headings take the focus from the page, and
    // the body when Tab leaves the page: not controls).
    for (const ring of rings.filter((r) => !/^(h\d|body)\b/.test(r.element))) assertRing(ring);
    const seen = [...new Set(rings.map((r) => `${r.element} ${r.ratio.toFixed(1)}:1 on ${r.background}`))];
    console.log(`focus rings checked:\n  ${seen.join("\n  ")}`);
  } finally {
    await browser.close();
    await stopDemo(child);
  }
});
