// A join refused by the per-minute join budget is waited out, not looped
// on and not left silent (issue 12, points 4 and 9). The server allows two
// joins a minute per participant; the patient's link opened in a third tab
// is refused with close 4008 `retry_after:N`. The page must say it will try
// again in N seconds instead of reconnecting at once (which the server
// would refuse again) or doing nothing.
//
// Before the fix the server closed with 4006 and the page stopped, silent.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium, shots, startDemo, stopDemo } from "./helpers.mjs";

test("a join refused by its budget says when it tries again", { timeout: 180000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const settings = join(mkdtempSync(join(tmpdir(), "tc-cfg-")), "settings.toml");
  writeFileSync(settings, "[http]\njoins_per_participant_per_minute = 2\n");
  const port = 25443 + Math.floor(Math.random() * 1000);
  let demo;
  let browser;
  try {
    demo = await startDemo(data, port, { extra: ["--relay-port", "0", "--config", settings] });
    const { links } = demo;
    browser = await launchChromium();
    // Two joins: each tab is welcomed (the second replaces the first).
    for (let i = 0; i < 2; i++) {
      const tab = await browser.newPage();
      await tab.goto(links.patient);
      await tab.getByRole("button", { name: "Continuer" }).click();
      await tab.getByRole("button", { name: "J'accepte" }).waitFor({ timeout: 15000 });
    }
    // The third is over the budget.
    const third = await browser.newPage();
    await third.goto(links.patient);
    await third.getByRole("button", { name: "Continuer" }).click();
    const banner = third.locator("#banner", { hasText: /Trop de reconnexions en une minute : nouvel essai dans \d+ s\./ });
    await banner.waitFor({ timeout: 15000 });
    const secs = Number(/dans (\d+) s/.exec(await banner.textContent())[1]);
    assert.ok(secs >= 1 && secs <= 60, `${secs}`);
    assert.equal(await banner.getAttribute("aria-live"), "polite");
    assert.ok(await third.locator("#screen-error").isHidden(), "not an error screen");
    await third.screenshot({ path: join(shots, "join-budget-wait.png") });
  } finally {
    await browser?.close().catch(() => {});
    if (demo) await stopDemo(demo.child).catch(() => {});
  }
});
