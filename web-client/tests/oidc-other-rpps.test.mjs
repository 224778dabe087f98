// A professional whose Pro Santé Connect identity carries another RPPS
// number than the act's cannot read it: with `create_accounts = false`
// (the default) the sign-in itself is refused with a clear message and no
// session; with `create_accounts = true` an account is made for them
// (audited), and reading the act's trace is refused (403).
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ERRORS } from "../i18n.js";
import { checkA11y, launchChromium, shots } from "./helpers.mjs";
import { accessLog, assertNoSessionCookie, sessionStatus, startWithProvider, throughProvider } from "./oidc/helpers.mjs";

test("another RPPS number cannot read the act: refused at sign-in, or 403 once an account is made", { timeout: 180000 }, async () => {
  // 1. No account holds 10101010105, and none is made: refused.
  let srv = await startWithProvider();
  let browser = await launchChromium();
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.setViewportSize({ width: 1100, height: 900 });
    await throughProvider(page, srv.origin, "pro-autre");
    await page.getByRole("alert").filter({ hasText: ERRORS.fr.api.oidc_no_account }).waitFor({ timeout: 20000 });
    assert.equal(new URL(page.url()).search, "", "the code is taken out of the address");
    assert.equal(await sessionStatus(page), 401);
    await assertNoSessionCookie(browser);
    await checkA11y(page, "pro: Pro Santé Connect sign-in refused (no account)");
    await page.screenshot({ path: join(shots, "oidc-2-no-account-fr.png"), fullPage: true });
    // In English too.
    await page.getByRole("button", { name: "Switch to English" }).click();
    await page.getByRole("alert").filter({ hasText: ERRORS.en.api.oidc_no_account }).waitFor();
    const log = accessLog(srv.data);
    assert.ok(log.rows.some((r) => r.actor === "oidc:pro-sante-connect" && r.action === "login" && r.outcome === "failed:oidc_no_account"), log.text);
    assert.doesNotMatch(log.text, /eyJ|810101010105|Autre|Fictif/);
  } finally {
    await browser.close();
    await srv.stop();
  }

  // 2. Accounts made on first sign-in: signed in, but not to this act.
  srv = await startWithProvider({ createAccounts: true });
  browser = await launchChromium();
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.setViewportSize({ width: 1100, height: 900 });
    await throughProvider(page, srv.origin, "pro-autre");
    await page.waitForFunction(() => document.activeElement?.id === "acts-title", null, { timeout: 20000 });
    const who = await page.evaluate(() => fetch("/api/session").then((r) => r.json()));
    assert.equal(who.rpps, "10101010105");
    assert.equal(who.name, "Autre Fictif");
    assert.equal(who.role, "professional");
    assert.match(who.login, /^pro-sante-connect-[0-9a-f]{16}$/, "a login naming neither the person nor the number");
    // The demo act is not theirs: not listed, and its trace refused.
    assert.equal(await page.locator(`[id="trace-${srv.act}"]`).count(), 0);
    const read = await page.evaluate((id) => fetch(`/api/acts/${id}/trace`).then(async (r) => ({ status: r.status, body: await r.json() })), srv.act);
    assert.equal(read.status, 403);
    assert.equal(read.body.code, "not_taking_part");
    await page.screenshot({ path: join(shots, "oidc-3-other-rpps-signed-in.png"), fullPage: true });
    const log = accessLog(srv.data);
    assert.ok(log.rows.some((r) => r.actor === "oidc:pro-sante-connect" && r.action === "account_added"), log.text);
    assert.ok(log.rows.some((r) => r.action === "login" && r.outcome === "ok:pro-sante-connect"), log.text);
  } finally {
    await browser.close();
    await srv.stop();
  }
});
