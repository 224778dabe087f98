// A professional whose Pro Santé Connect sign-in did not reach the level
// the server asks for (`acr_values = "eidas1"`; the provider answers
// another `acr`) is refused, though their RPPS number has an account: a
// clear message, no session, the cause in the access log.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ERRORS } from "../i18n.js";
import { launchChromium } from "./helpers.mjs";
import { accessLog, assertNoSessionCookie, sessionStatus, startWithProvider, throughProvider } from "./oidc/helpers.mjs";

test("a sign-in below the required authentication level (acr) is refused", { timeout: 120000 }, async () => {
  const srv = await startWithProvider();
  const browser = await launchChromium();
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    await throughProvider(page, srv.origin, "pro-sans-ecps");
    await page.getByRole("alert").filter({ hasText: ERRORS.fr.api.oidc_acr }).waitFor({ timeout: 20000 });
    assert.equal(await sessionStatus(page), 401);
    await assertNoSessionCookie(browser);
    const log = accessLog(srv.data);
    assert.ok(log.rows.some((r) => r.action === "login" && r.outcome === "failed:oidc_acr"), log.text);
  } finally {
    await browser.close();
    await srv.stop();
  }
});
