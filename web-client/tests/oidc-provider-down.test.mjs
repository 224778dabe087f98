// A provider that does not answer at all (a port that accepts connections
// and never replies): the server starts anyway, the password sign-in
// still works, and « Se connecter avec Pro Santé Connect » comes back
// within the client's timeout with a clear message and no session.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { ERRORS } from "../i18n.js";
import { launchChromium, shots } from "./helpers.mjs";
import { signIn } from "./pro-helpers.mjs";
import { accessLog, assertNoSessionCookie, sessionStatus, startWithProvider } from "./oidc/helpers.mjs";

test("a provider that never answers: the server runs, the page says so, no session", { timeout: 120000 }, async () => {
  const sockets = new Set();
  const silent = createServer((s) => sockets.add(s));
  await new Promise((r) => silent.listen(0, "127.0.0.1", r));
  const srv = await startWithProvider({ issuer: `http://127.0.0.1:${silent.address().port}` });
  const browser = await launchChromium();
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.goto(`${srv.origin}/pro`);
    const started = Date.now();
    await page.getByRole("link", { name: "Se connecter avec Pro Santé Connect" }).click();
    await page.getByRole("alert").filter({ hasText: ERRORS.fr.api.oidc_unreachable }).waitFor({ timeout: 30000 });
    assert.ok(Date.now() - started < 15000, `answered in ${Date.now() - started} ms`);
    assert.equal(await sessionStatus(page), 401);
    await assertNoSessionCookie(browser);
    await page.screenshot({ path: join(shots, "oidc-6-provider-down.png"), fullPage: true });
    const log = accessLog(srv.data);
    assert.ok(log.rows.some((r) => r.action === "login" && r.outcome === "failed:oidc_unreachable"), log.text);
    // The password and TOTP sign-in is not held up.
    await signIn(page, srv.port, srv.requester);
    assert.equal(await sessionStatus(page), 200);
  } finally {
    await browser.close();
    await srv.stop();
    for (const s of sockets) s.destroy();
    silent.close();
  }
});
