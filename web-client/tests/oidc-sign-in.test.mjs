// A professional signs in through Pro Santé Connect (here the independent
// `oidc-provider` package, speaking as Pro Santé Connect does: acr eidas1,
// SubjectNameID = 8 + RPPS in a signed userinfo): the pro page's button,
// the provider's login and consent pages, back with a session cookie; the
// work list names them, and they read their act's trace. The access log
// has the sign-in, with the provider, and no token or claim.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkA11y, launchChromium, shots } from "./helpers.mjs";
import { accessLog, startWithProvider, throughProvider } from "./oidc/helpers.mjs";

test("a professional signs in with Pro Santé Connect and reads their act's trace", { timeout: 180000 }, async () => {
  const srv = await startWithProvider();
  const browser = await launchChromium();
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    page.on("pageerror", (e) => console.error("page error:", e));
    await page.setViewportSize({ width: 1100, height: 900 });
    await throughProvider(page, srv.origin, "pro-demo", { shot: join(shots, "oidc-0-signin-page.png") });

    // Back on the pro page, signed in: the work list takes the focus.
    await page.waitForFunction(() => document.activeElement?.id === "acts-title", null, { timeout: 20000 });
    assert.equal(new URL(page.url()).pathname, "/pro.html");
    const who = await page.evaluate(() => fetch("/api/session").then((r) => r.json()));
    assert.equal(who.provider, "pro-sante-connect");
    assert.equal(who.rpps, "10000000009");
    assert.equal(who.login, srv.requester.login, "the account holding the RPPS number");
    const cookie = (await browser.cookies()).find((c) => c.name === "__Host-teleconsult");
    assert.ok(cookie?.httpOnly && cookie.secure && cookie.sameSite === "Strict", JSON.stringify(cookie));
    assert.equal((await browser.cookies()).filter((c) => c.name === "__Host-teleconsult-oidc").length, 0, "the binding cookie is cleared");

    // Their act, and its trace, from the page's own trace view.
    await page.locator(`[id="trace-${srv.act}"]`).click();
    await page.waitForFunction(() => document.activeElement?.id === "trace-title", null, { timeout: 15000 });
    await page.locator("#trace-events li").first().waitFor();
    const events = await page.locator("#trace-events li").allTextContents();
    assert.ok(events.some((e) => / requested$/.test(e)), events.join("\n"));
    const api = await page.evaluate((id) => fetch(`/api/acts/${id}/trace`).then(async (r) => ({ status: r.status, body: await r.json() })), srv.act);
    assert.equal(api.status, 200);
    assert.ok(api.body.events.length >= 1);
    await checkA11y(page, "pro: trace after Pro Santé Connect sign-in");
    await page.screenshot({ path: join(shots, "oidc-1-signed-in-trace.png"), fullPage: true });

    // The access log: the sign-in (provider named), then the trace read;
    // never a token, a claim or a name.
    const log = accessLog(srv.data);
    const signIn = log.rows.findIndex((r) => r.action === "login" && r.outcome === "ok:pro-sante-connect");
    assert.ok(signIn >= 0, log.text);
    assert.ok(log.rows.slice(signIn).some((r) => r.action === "read_trace" && r.outcome === "allowed"), log.text);
    assert.doesNotMatch(log.text, /eyJ|SubjectNameID|810000000009|Exemple/);
  } finally {
    await browser.close();
    await srv.stop();
  }
});
