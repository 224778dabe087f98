// A real, independent OpenID Connect provider for the sign-in tests: the
// `oidc-provider` package (not ours), configured to speak as Pro Santé
// Connect does: RS256 keys made here, one confidential client
// (client_secret_basic, PKCE S256 required), `acr` eidas1, the claims
// SubjectNameID (`8` + RPPS), given_name and family_name given by the
// scope `scope_all` at a signed userinfo endpoint, and its built-in login
// and consent pages (devInteractions) for the browser. One login
// (`pro-sans-ecps`) is given a lower level than eidas1.
//
// For the bad-input tests, `setMode(mode)` turns on a test-only Koa
// middleware that swaps the token endpoint's id_token for one minted with
// `jose`: `signature` (signed by another key under the same key id),
// `audience` (for another client), `nonce` (another nonce), `expired`; or
// `hang` (the token endpoint never answers). `OIDC_MODE` sets the first
// mode. Run alone (`node provider.mjs PORT REDIRECT_URI`), it prints its
// issuer.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import * as jose from "jose";
import Provider from "oidc-provider";

export const CLIENT_ID = "teleconsult-test";
export const CLIENT_SECRET = "secret-fictif-de-test-0123456789abcdef";

/**
 * The accounts, by login on the provider's page: fictitious people. Their
 * RPPS numbers carry a valid Luhn digit; 10000000009 is the demo act's
 * requesting professional.
 */
export const ACCOUNTS = {
  "pro-demo": { SubjectNameID: "810000000009", given_name: "Exemple", family_name: "Démo" },
  "pro-autre": { SubjectNameID: "810101010105", given_name: "Autre", family_name: "Fictif" },
  "pro-sans-rpps": { given_name: "Sans", family_name: "Numéro" },
  // The demo professional again, signed in by a weaker means than e-CPS.
  "pro-sans-ecps": { SubjectNameID: "810000000009", given_name: "Exemple", family_name: "Démo" },
};

/** The authentication level (`acr`) each login gets: eidas1 unless named here. */
export const LEVELS = { "pro-sans-ecps": "faible" };

/**
 * Starts the provider on 127.0.0.1:`port` (0: any), letting the client
 * come back to `redirectUri`. Resolves with { issuer, port, setMode, close }.
 */
export async function startProvider({ port = 0, redirectUri }) {
  const { privateKey } = await jose.generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await jose.exportJWK(privateKey)), kid: `test-${randomUUID().slice(0, 8)}`, alg: "RS256", use: "sig" };
  // Another key, under the same key id: a token it signs names a key the
  // client knows, and fails its signature check.
  const other = (await jose.generateKeyPair("RS256")).privateKey;
  const realKey = await jose.importJWK(jwk, "RS256");

  const server = createServer();
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  const bound = server.address().port;
  const issuer = `http://127.0.0.1:${bound}`;

  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
      id_token_signed_response_alg: "RS256",
      userinfo_signed_response_alg: "RS256",
    }],
    jwks: { keys: [jwk] },
    pkce: { required: () => true },
    acrValues: ["eidas1", "faible"],
    scopes: ["openid", "scope_all"],
    claims: {
      acr: null,
      auth_time: null,
      sid: null,
      openid: ["sub"],
      scope_all: ["SubjectNameID", "given_name", "family_name"],
    },
    features: {
      devInteractions: { enabled: true },
      userinfo: { enabled: true },
      jwtUserinfo: { enabled: true },
    },
    cookies: { keys: [randomUUID()] },
    async findAccount(ctx, id) {
      const claims = ACCOUNTS[id];
      if (!claims) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
    },
  });
  // Pro Santé Connect proves the login with e-CPS at eIDAS "substantial"
  // (`acr` eidas1); the built-in login page says nothing of it, so every
  // login it finishes is given that level, or the one LEVELS names.
  const finished = provider.interactionFinished.bind(provider);
  provider.interactionFinished = (req, res, result, options) => {
    if (result.login) result.login.acr = LEVELS[result.login.accountId] ?? "eidas1";
    return finished(req, res, result, options);
  };

  let mode = process.env.OIDC_MODE || null;
  // Test only: the token endpoint's answer, altered as `mode` says.
  provider.use(async (ctx, next) => {
    if (mode === "hang" && ctx.path === "/token") {
      // Holds the request well past the client's timeout, then gives up.
      await new Promise((r) => setTimeout(r, 15000));
      ctx.status = 504;
      return;
    }
    await next();
    if (!mode || ctx.path !== "/token" || ctx.status !== 200 || !ctx.body?.id_token) return;
    const claims = jose.decodeJwt(ctx.body.id_token);
    const now = Math.floor(Date.now() / 1000);
    let key = realKey;
    if (mode === "signature") key = other;
    if (mode === "audience") claims.aud = "another-client";
    if (mode === "nonce") claims.nonce = "another-nonce";
    if (mode === "expired") Object.assign(claims, { iat: now - 1200, exp: now - 600 });
    ctx.body = {
      ...ctx.body,
      id_token: await new jose.SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: jwk.kid, typ: "JWT" }).sign(key),
    };
  });

  server.on("request", provider.callback());
  return {
    issuer,
    port: bound,
    setMode(m) {
      mode = m;
    },
    close: () => new Promise((r) => {
      server.closeAllConnections?.();
      server.close(r);
    }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [port, redirectUri] = process.argv.slice(2);
  const p = await startProvider({ port: Number(port ?? 0), redirectUri: redirectUri ?? "https://127.0.0.1:8443/api/oidc/callback" });
  console.log(`OpenID Connect provider at ${p.issuer}`);
}
