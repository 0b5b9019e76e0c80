// Test-only OpenID Provider built on panva/oidc-provider, for opa-sts
// integration tests. It issues JWT access tokens (typ "at+jwt") with the
// client_credentials grant, and nothing else is meant to be used.
//
//   node server.mjs config.json
//
// config.json (all keys optional unless marked):
// {
//   "host": "127.0.0.1",
//   "port": 4444,                                 (required)
//   "issuer": "http://127.0.0.1:4444",            (default http://host:port; no trailing slash)
//   "accessTokenTTL": 3600,                       (seconds)
//   "accessTokenSigningAlg": "RS256",             (default: alg of the first key)
//   "jwks": { "keys": [ <private JWK>, ... ] },   (required; the FIRST key signs,
//                                                  the others are only published)
//   "clients": [{
//     "client_id": "app", "client_secret": "s3cret",      (required)
//     "resources": ["https://sts.example"],  (allowed resource indicators, absolute
//                                             URIs; the first is the default one)
//     "audience": "opa-sts",                 (optional "aud" override; default:
//                                             the resource indicator itself)
//     "scopes": ["read", "write"],           (scopes the client may obtain)
//     "extraClaims": { "groups": ["a"], "realm_access": {"roles": ["r"]} }
//                                            (merged into the access token payload
//                                             last, so they may override sub, azp...)
//   }]
// }
//
// When listening it prints one line on stdout:
//   {"ready":true,"issuer":"...","port":...,"kid":"...","alg":"..."}
// and it exits on SIGTERM/SIGINT.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

function fail(msg) {
  process.stderr.write(`oidc-provider server: ${msg}\n`);
  process.exit(2);
}

const configPath = process.argv[2];
if (!configPath) fail('usage: node server.mjs <config.json>');

let cfg;
try {
  cfg = JSON.parse(readFileSync(configPath, 'utf8'));
} catch (err) {
  fail(`cannot read ${configPath}: ${err.message}`);
}

const host = cfg.host || '127.0.0.1';
const port = Number(cfg.port);
if (!Number.isInteger(port) || port <= 0) fail('config: "port" must be a positive integer');
const issuer = (cfg.issuer || `http://${host}:${port}`).replace(/\/+$/, '');
const keys = cfg.jwks?.keys;
if (!Array.isArray(keys) || keys.length === 0) fail('config: "jwks.keys" must be a non-empty array');
const signingKey = keys[0];
const signingAlg = cfg.accessTokenSigningAlg || signingKey.alg || 'RS256';
const accessTokenTTL = Number(cfg.accessTokenTTL || 3600);

const clientsById = new Map();
for (const c of cfg.clients || []) {
  if (!c.client_id || !c.client_secret) fail('config: every client needs client_id and client_secret');
  clientsById.set(c.client_id, {
    resources: c.resources || [],
    audience: c.audience,
    scopes: c.scopes || [],
    extraClaims: c.extraClaims || {},
  });
}

const allScopes = new Set(['openid']);
for (const c of clientsById.values()) c.scopes.forEach((s) => allScopes.add(s));

const provider = new Provider(issuer, {
  jwks: { keys },
  clients: [...clientsById.entries()].map(([clientId, c]) => ({
    client_id: clientId,
    client_secret: cfg.clients.find((x) => x.client_id === clientId).client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  scopes: [...allScopes],
  // the provider's default alg must be backed by a key (ES256-only key sets).
  clientDefaults: {
    grant_types: ['client_credentials'],
    response_types: [],
    id_token_signed_response_alg: signingAlg,
    token_endpoint_auth_method: 'client_secret_basic',
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  enabledJWA: {
    idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256', 'ES384', 'Ed25519', 'EdDSA'],
  },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // no "resource" parameter: use the client's first allowed resource.
      defaultResource(ctx, client) {
        return clientsById.get(client.clientId)?.resources[0];
      },
      useGrantedResource() {
        return true;
      },
      getResourceServerInfo(ctx, resourceIndicator, client) {
        const c = clientsById.get(client.clientId);
        if (!c || !c.resources.includes(resourceIndicator)) {
          throw new errors.InvalidTarget(`resource ${resourceIndicator} is not allowed for this client`);
        }
        return {
          scope: c.scopes.join(' '),
          audience: c.audience || resourceIndicator,
          accessTokenFormat: 'jwt',
          accessTokenTTL,
          jwt: { sign: { alg: signingAlg, kid: signingKey.kid } },
        };
      },
    },
  },
  formats: {
    customizers: {
      // extra claims go in last so they can override standard ones.
      jwt(ctx, token, jwt) {
        const c = clientsById.get(token.clientId);
        if (c) Object.assign(jwt.payload, structuredClone(c.extraClaims));
      },
    },
  },
  ttl: {
    ClientCredentials: () => accessTokenTTL,
  },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});

for (const ev of ['server_error', 'grant.error', 'introspection.error', 'jwks.error', 'discovery.error']) {
  provider.on(ev, (ctx, err) => {
    process.stderr.write(`oidc-provider ${ev}: ${err?.name}: ${err?.message}${err?.error_description ? ` (${err.error_description})` : ''}\n`);
  });
}

const server = provider.listen(port, host, () => {
  process.stdout.write(`${JSON.stringify({
    ready: true, issuer, port, kid: signingKey.kid, alg: signingAlg,
  })}\n`);
});
server.on('error', (err) => fail(`listen ${host}:${port}: ${err.message}`));

function shutdown() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
