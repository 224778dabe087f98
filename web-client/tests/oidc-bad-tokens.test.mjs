// Bad input from the provider: an ID token signed by another key, meant
// for another client, with another nonce, or expired (minted with `jose`
// by the test provider's middleware in place of the real one), and a token
// endpoint that never answers. Each ends on the pro page with a clear
// message (FR, and EN for one), no session cookie, GET /api/session 401,
// and its own outcome in the access log. Then a good sign-in still works.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ERRORS } from "../i18n.js";
import { launchChromium, shots } from "./helpers.mjs";
import { accessLog, assertNoSessionCookie, sessionStatus, startWithProvider, throughProvider } from "./oidc/helpers.mjs";

const CASES = [
  { mode: "signature", code: "oidc_signature" },
  { mode: "audience", code: "oidc_audience" },
  { mode: "nonce", code: "oidc_nonce" },
  { mode: "expired", code: "oidc_expired" },
  { mode: "hang", code: "oidc_unreachable" },
];

test("a forged, misdirected, replayed or expired ID token, or a silent provider, gives a clear error and no session", { timeout: 240000 }, async () => {
  const srv = await startWithProvider();
  try {
    for (const { mode, code } of CASES) {
      srv.provider.setMode(mode);
      const browser = await launchChromium();
      try {
        const page = browser.pages()[0] ?? (await browser.newPage());
        await page.setViewportSize({ width: 1100, height: 900 });
        await throughProvider(page, srv.origin, "pro-demo");
        await page.getByRole("alert").filter({ hasText: ERRORS.fr.api[code] }).waitFor({ timeout: 30000 });
        assert.equal(await sessionStatus(page), 401, mode);
        await assertNoSessionCookie(browser);
        assert.equal(await page.locator("#acts").isHidden(), true);
        if (mode === "signature") {
          await page.screenshot({ path: join(shots, "oidc-4-bad-signature-fr.png"), fullPage: true });
          await page.getByRole("button", { name: "Switch to English" }).click();
          await page.getByRole("alert").filter({ hasText: ERRORS.en.api[code] }).waitFor();
          await page.screenshot({ path: join(shots, "oidc-5-bad-signature-en.png"), fullPage: true });
        }
      } finally {
        await browser.close();
      }
      const log = accessLog(srv.data);
      assert.ok(log.rows.some((r) => r.action === "login" && r.outcome === `failed:${code}`), `${mode}: ${log.text}`);
    }
    assert.doesNotMatch(accessLog(srv.data).text, /eyJ|SubjectNameID|810000000009/, "no token or claim in the log");

    // The provider fixed: the same professional signs in.
    srv.provider.setMode(null);
    const browser = await launchChromium();
    try {
      const page = browser.pages()[0] ?? (await browser.newPage());
      await throughProvider(page, srv.origin, "pro-demo");
      await page.waitForFunction(() => document.activeElement?.id === "acts-title", null, { timeout: 20000 });
      assert.equal(await sessionStatus(page), 200);
    } finally {
      await browser.close();
    }
  } finally {
    await srv.stop();
  }
});
