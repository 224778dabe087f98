// What the OpenID Connect sign-in tests share: a demo server whose settings
// file names the test provider (oidc/provider.mjs, the `oidc-provider`
// package) as its Pro Santé Connect, and the browser's way through the
// provider's own login and consent pages.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemo, stopDemo, waitHealthy } from "../helpers.mjs";
import { REQUESTER, addProfessional } from "../pro-helpers.mjs";
import { CLIENT_ID, CLIENT_SECRET, startProvider } from "./provider.mjs";

/** The `[oidc]` table for `issuer`, as an operator writes it for Pro Santé Connect. */
export function oidcSettings(issuer, { createAccounts = false } = {}) {
  return `[oidc]
issuer = "${issuer}"
client_id = "${CLIENT_ID}"
client_secret = "${CLIENT_SECRET}"
scopes = ["openid", "scope_all"]
acr_values = "eidas1"
rpps_claim = "SubjectNameID"
rpps_prefix = "8"
name_claims = ["given_name", "family_name"]
userinfo = true
create_accounts = ${createAccounts}
label = "Pro Santé Connect"
`;
}

/**
 * The demo server (its act requested by REQUESTER, who has a local account)
 * with the test provider as its OpenID Connect provider, or `issuer` if
 * given (a provider that does not answer). Resolves with { data, port, act,
 * provider, stop }.
 */
export async function startWithProvider({ createAccounts = false, issuer = null } = {}) {
  const data = mkdtempSync(join(tmpdir(), "tc-oidc-"));
  const requester = addProfessional(data, REQUESTER);
  const port = 27443 + Math.floor(Math.random() * 1000);
  const origin = `https://127.0.0.1:${port}`;
  const provider = issuer ? null : await startProvider({ redirectUri: `${origin}/api/oidc/callback` });
  const settings = join(data, "teleconsult.toml");
  writeFileSync(settings, oidcSettings(issuer ?? provider.issuer, { createAccounts }));
  const { child, act } = await startDemo(data, port, { extra: ["--config", settings, "--public-url", origin] });
  await waitHealthy(port);
  return {
    data,
    port,
    origin,
    act,
    requester,
    provider,
    async stop() {
      await stopDemo(child);
      await provider?.close();
    },
  };
}

/**
 * From the pro page, « Se connecter avec Pro Santé Connect », then the
 * provider's own pages: its login form (as `login`) and its consent. The
 * sign-in page is shot to `shot` first, if given.
 */
export async function throughProvider(page, origin, login, { shot = null } = {}) {
  await page.goto(`${origin}/pro`);
  await page.getByRole("heading", { name: "Connexion" }).waitFor();
  const button = page.getByRole("link", { name: "Se connecter avec Pro Santé Connect" });
  await button.waitFor();
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  await button.click();
  // The provider's pages (devInteractions): any password; then consent.
  await page.locator('input[name="login"]').waitFor({ timeout: 15000 });
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill("mot-de-passe-quelconque");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await page.getByRole("button", { name: "Continue" }).click({ timeout: 15000 });
}

/** What `GET /api/session` answers in the page (its cookie, if any, sent). */
export function sessionStatus(page) {
  return page.evaluate(() => fetch("/api/session", { credentials: "same-origin" }).then((r) => r.status));
}

/** Asserts the browser holds no session cookie. */
export async function assertNoSessionCookie(context) {
  const cookies = await context.cookies();
  assert.equal(cookies.filter((c) => c.name === "__Host-teleconsult").length, 0, JSON.stringify(cookies.map((c) => c.name)));
}

/** The access log's rows, `{ actor, action, outcome }` (sqlite3, read-only). */
export function accessLog(data) {
  const out = spawnSync("sqlite3", ["-readonly", "-json", join(data, "trace.db"), "SELECT actor, action, outcome FROM access_log ORDER BY seq"], { encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  return { rows: JSON.parse(out.stdout || "[]"), text: out.stdout };
}
