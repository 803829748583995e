#!/usr/bin/env node
// Throw-away OpenID provider for the oidc-agent-rs end-to-end tests.
//
// A real oidc-provider (panva/node-oidc-provider 9.x) on 127.0.0.1, with the
// clients and features the tests need, plus a few test-only endpoints.
//
// Usage:
//   node provider.mjs [--port N] [--https CERT KEY] [--rotate on|off]
//                     [--at-ttl SECONDS] [--refresh-delay-ms N] [--log FILE]
//
// Every flag can also be given as an environment variable:
//   E2E_OP_PORT, E2E_OP_HTTPS_CERT + E2E_OP_HTTPS_KEY, E2E_OP_ROTATE,
//   E2E_OP_AT_TTL, E2E_OP_REFRESH_DELAY_MS, E2E_OP_LOG.
//
// Once listening it prints exactly one line on stdout:  READY <issuer-url>
// Everything else (logs) goes to stderr and, with --log, to that file.
// Token values are never logged.
//
// Test-only endpoints (not part of any standard):
//   GET  /test/stats        JSON: successful token-endpoint grants by
//                           grant_type (flat keys, e.g. "refresh_token": 3),
//                           plus "token_requests" (all token-endpoint
//                           requests), "token_errors", "failed" (errors by
//                           grant_type) and "requests" (hits per endpoint).
//   POST /test/reset-stats  zero all counters.
//   GET  /test/config       the provider's runtime settings (JSON).
//   POST /test/hold-code-exchange     from now on, authorization_code grants
//                           wait (a test acts while a client is exchanging);
//   GET  /test/held-code-exchanges    {"waiting": N} grants waiting; with
//                           ?at_least=N&timeout_ms=T it answers once N
//                           are waiting, or after T ms with the count then;
//   POST /test/release-code-exchange  let them all proceed, stop holding.
//   GET  /test/client?client_id=ID  {"exists": bool}: whether a client is
//                           registered (a dynamic one deleted by RFC 7592 is not).
//   POST /test/end-access-token  form `token=AT`: that access token ends now
//                           (introspection says inactive), its grant and
//                           refresh token live on (standard revocation of an
//                           access token here ends the whole grant).

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import * as querystring from 'node:querystring';

import Provider from 'oidc-provider';

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const env = process.env;
  const opts = {
    port: Number(env.E2E_OP_PORT ?? 0),
    cert: env.E2E_OP_HTTPS_CERT || null,
    key: env.E2E_OP_HTTPS_KEY || null,
    rotate: (env.E2E_OP_ROTATE ?? 'off'),
    atTtl: Number(env.E2E_OP_AT_TTL ?? 60),
    refreshDelayMs: Number(env.E2E_OP_REFRESH_DELAY_MS ?? 0),
    log: env.E2E_OP_LOG || null,
    postOnly: false,
  };
  const need = (i, n) => {
    if (i + n >= argv.length) usage(`${argv[i]} needs ${n} argument(s)`);
  };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    switch (a) {
      case '--port': need(i, 1); opts.port = Number(argv[++i]); break;
      case '--https': need(i, 2); opts.cert = argv[++i]; opts.key = argv[++i]; break;
      case '--rotate': need(i, 1); opts.rotate = argv[++i]; break;
      case '--at-ttl': need(i, 1); opts.atTtl = Number(argv[++i]); break;
      case '--refresh-delay-ms': need(i, 1); opts.refreshDelayMs = Number(argv[++i]); break;
      case '--log': need(i, 1); opts.log = argv[++i]; break;
      // Confidential clients may authenticate only with client_secret_post
      // (the body), as ownCloud Infinite Scale's built-in IdP documents.
      case '--post-only': opts.postOnly = true; break;
      case '-h': case '--help': usage(null); break;
      default: usage(`unknown argument: ${a}`);
    }
  }
  if (!['on', 'off'].includes(opts.rotate)) usage('--rotate must be on or off');
  for (const k of ['port', 'atTtl', 'refreshDelayMs']) {
    if (!Number.isInteger(opts[k]) || opts[k] < 0) usage(`bad value for ${k}`);
  }
  if (opts.atTtl < 1) usage('--at-ttl must be >= 1');
  if ((opts.cert && !opts.key) || (!opts.cert && opts.key)) usage('--https needs CERT and KEY');
  return opts;
}

function usage(msg) {
  const text = 'usage: provider.mjs [--port N] [--https CERT KEY] [--rotate on|off] '
    + '[--at-ttl SECONDS] [--refresh-delay-ms N] [--log FILE]';
  if (msg) {
    process.stderr.write(`provider: ${msg}\n${text}\n`);
    process.exit(2);
  }
  process.stdout.write(`${text}\n`);
  process.exit(0);
}

const opts = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------- logging

let logStream = null;
if (opts.log) logStream = fs.createWriteStream(opts.log, { flags: 'a' });

function log(msg) {
  const line = `${new Date().toISOString()} provider: ${msg}\n`;
  process.stderr.write(line);
  if (logStream) logStream.write(line);
}

// ---------------------------------------------------------------- stats

function freshStats() {
  return { grants: {}, failed: {}, tokenRequests: 0, tokenErrors: 0, requests: {} };
}
let stats = freshStats();

function statsJson() {
  return {
    ...stats.grants,
    token_requests: stats.tokenRequests,
    token_errors: stats.tokenErrors,
    failed: stats.failed,
    requests: stats.requests,
  };
}

// ---------------------------------------------------------------- accounts

// devInteractions accept any login; the login name becomes the subject.
function claimsFor(id) {
  const user = String(id);
  return {
    sub: user,
    preferred_username: user,
    name: `E2E ${user}`,
    email: `${user}@example.test`,
    email_verified: true,
    groups: ['e2e-users', `${user}-group`],
    roles: ['user', 'uploader'],
  };
}

async function findAccount(_ctx, id) {
  return {
    accountId: id,
    async claims() { return claimsFor(id); },
  };
}

// ---------------------------------------------------------------- clients

const LOOPBACK_REDIRECTS = [
  // RFC 8252 §7.3: for native clients oidc-provider ignores the port of a
  // loopback redirect URI, so these match http://127.0.0.1:<any>/ etc.
  // The path is still compared exactly: both "" and "/" are registered.
  'http://127.0.0.1', 'http://127.0.0.1/',
  'http://localhost', 'http://localhost/',
  'http://[::1]', 'http://[::1]/',
];
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const CLIENT_GRANTS = ['authorization_code', 'refresh_token', DEVICE_GRANT];

// The resource-server client the harness (and the WebDAV server) use for
// introspection and revocation; allowed to inspect and revoke any token.
const ADMIN_CLIENT_ID = 'e2e-resource-server';
const ADMIN_CLIENT_SECRET = 'secret-e2e-resource-server';

const clients = [
  {
    client_id: 'OpenCloudDesktop',
    client_name: 'OpenCloud Desktop Client',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    redirect_uris: LOOPBACK_REDIRECTS,
    grant_types: CLIENT_GRANTS,
    response_types: ['code'],
  },
  {
    client_id: 'ownCloudDesktop',
    client_secret: 'secret-owncloud',
    client_name: 'ownCloud Desktop Client',
    application_type: 'native',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: LOOPBACK_REDIRECTS,
    grant_types: CLIENT_GRANTS,
    response_types: ['code'],
  },
  {
    // Accepts its secret only in the form body (client_secret_post).
    client_id: 'ownCloudPost',
    client_secret: 'secret-owncloud-post',
    client_name: 'ownCloud client (client_secret_post)',
    application_type: 'native',
    token_endpoint_auth_method: 'client_secret_post',
    redirect_uris: LOOPBACK_REDIRECTS,
    grant_types: CLIENT_GRANTS,
    response_types: ['code'],
  },
  {
    client_id: ADMIN_CLIENT_ID,
    client_secret: ADMIN_CLIENT_SECRET,
    client_name: 'E2E resource server',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [],
    grant_types: [],
    response_types: [],
  },
];

// ---------------------------------------------------------------- server

const DAY = 24 * 60 * 60;
let provider = null;
let issuer = null;

function makeConfiguration() {
  // --post-only: the provider offers (and its confidential clients use)
  // only client_secret_post for the token endpoint.
  const post = (c) => (c.token_endpoint_auth_method === 'client_secret_basic'
    ? { ...c, token_endpoint_auth_method: 'client_secret_post' } : c);
  return {
    clients: opts.postOnly ? clients.map(post) : clients,
    ...(opts.postOnly ? { clientAuthMethods: ['none', 'client_secret_post'] } : {}),
    findAccount,
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name', 'groups', 'roles'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
      roles: ['roles'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups', 'roles'],
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      introspection: {
        enabled: true,
        allowedPolicy: introspectionAllowed,
      },
      revocation: {
        enabled: true,
        allowedPolicy: revocationAllowed,
      },
      registration: { enabled: true, initialAccessToken: false },
      // RFC 7592: a registered client can be read and deleted with its
      // registration access token (oidc-gen -d, a login given up).
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: false },
      userinfo: { enabled: true },
    },
    pkce: {
      // Public clients must use PKCE (S256); confidential ones may.
      required: (_ctx, client) => client.clientAuthMethod === 'none',
    },
    // Refresh tokens for every client allowed the refresh_token grant, with
    // or without offline_access / prompt=consent, as many field IdPs do.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => opts.rotate === 'on',
    ttl: {
      AccessToken: opts.atTtl,
      AuthorizationCode: 120,
      DeviceCode: 600,
      IdToken: 3600,
      Interaction: 3600,
      Session: 14 * DAY,
      Grant: 30 * DAY,
      // "works until revoked": far longer than any test run
      RefreshToken: 30 * DAY,
      ClientCredentials: 600,
    },
    renderError: async (ctx, out, _error) => {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html><head><title>oops</title></head><body><h1>oops! something went wrong</h1><pre>${
        Object.entries(out).map(([k, v]) => `${escapeHtml(k)}: ${escapeHtml(String(v))}`).join('\n')
      }</pre></body></html>`;
    },
  };
}

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

function introspectionAllowed(ctx, client, token) {
  if (client.clientId === ADMIN_CLIENT_ID) return true;
  if (client.clientAuthMethod === 'none' && token.clientId !== ctx.oidc.client.clientId) return false;
  return true;
}

function revocationAllowed(_ctx, client, token) {
  if (client.clientId === ADMIN_CLIENT_ID) return true;
  return token.clientId === client.clientId;
}

function sleep(ms) { return new Promise((r) => { setTimeout(r, ms); }); }

async function readRaw(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 56 * 1024) throw new Error('request entity too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function basicClientId(header) {
  if (!header || !/^basic /i.test(header)) return undefined;
  try {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const idx = decoded.indexOf(':');
    return decodeURIComponent((idx === -1 ? decoded : decoded.slice(0, idx)).replace(/\+/g, '%20'));
  } catch {
    return '(malformed basic auth)';
  }
}

// While set, authorization_code grants wait for /test/release-code-exchange:
// a test can act while a client is in the middle of its code exchange.
let codeExchangeGate = null;
// Long polls of /test/held-code-exchanges?at_least=N, woken on each arrival.
const heldWatchers = new Set();

function heldCount() { return codeExchangeGate ? codeExchangeGate.waiting : 0; }

function wakeHeldWatchers() {
  for (const w of [...heldWatchers]) w();
}

// Resolves with the count once at least `n` grants are held, or with the
// count at `timeoutMs` (the caller's deadline, not a pace).
function heldAtLeast(n, timeoutMs) {
  return new Promise((resolve) => {
    let timer = null;
    const check = () => {
      if (heldCount() < n) return;
      heldWatchers.delete(check);
      clearTimeout(timer);
      resolve(heldCount());
    };
    timer = setTimeout(() => { heldWatchers.delete(check); resolve(heldCount()); }, timeoutMs);
    heldWatchers.add(check);
    check();
  });
}

function installMiddleware(p) {
  // test-only endpoints + per-request logging + token endpoint accounting
  p.use(async (ctx, next) => {
    const path = ctx.path;

    if (path === '/test/stats' && ctx.method === 'GET') {
      ctx.type = 'json';
      ctx.body = JSON.stringify(statsJson());
      return;
    }
    if (path === '/test/reset-stats' && ctx.method === 'POST') {
      stats = freshStats();
      ctx.type = 'json';
      ctx.body = JSON.stringify(statsJson());
      log('stats reset');
      return;
    }
    if (path === '/test/config' && ctx.method === 'GET') {
      ctx.type = 'json';
      ctx.body = JSON.stringify({
        issuer, rotate: opts.rotate, at_ttl: opts.atTtl, refresh_delay_ms: opts.refreshDelayMs,
        https: Boolean(opts.cert), pid: process.pid,
      });
      return;
    }

    if (path === '/test/hold-code-exchange' && ctx.method === 'POST') {
      if (!codeExchangeGate) {
        let release;
        const held = new Promise((resolve) => { release = resolve; });
        codeExchangeGate = { held, release, waiting: 0 };
      }
      ctx.type = 'json';
      ctx.body = JSON.stringify({ held: true });
      log('code exchanges held');
      return;
    }
    if (path === '/test/release-code-exchange' && ctx.method === 'POST') {
      const gate = codeExchangeGate;
      codeExchangeGate = null;
      if (gate) gate.release();
      ctx.type = 'json';
      ctx.body = JSON.stringify({ released: gate ? gate.waiting : 0 });
      log('code exchanges released');
      return;
    }
    if (path === '/test/client' && ctx.method === 'GET') {
      const client = await p.Client.find(String(ctx.query.client_id ?? ''));
      ctx.type = 'json';
      ctx.body = JSON.stringify({ exists: Boolean(client) });
      return;
    }
    if (path === '/test/end-access-token' && ctx.method === 'POST') {
      const token = new URLSearchParams(await readRaw(ctx.req)).get('token') ?? '';
      const at = token ? await p.AccessToken.find(token) : undefined;
      if (at) await at.destroy();
      ctx.type = 'json';
      ctx.body = JSON.stringify({ ended: Boolean(at) });
      log(`access token ended: ${Boolean(at)}`);
      return;
    }
    if (path === '/test/held-code-exchanges' && ctx.method === 'GET') {
      const atLeast = Number(ctx.query.at_least ?? 0);
      const waiting = atLeast > 0
        ? await heldAtLeast(atLeast, Math.min(Number(ctx.query.timeout_ms ?? 0) || 0, 120000))
        : heldCount();
      ctx.type = 'json';
      ctx.body = JSON.stringify({ waiting });
      return;
    }

    const first = path.replace(/^\//, '').split('/')[0];
    const endpoint = ['interaction', 'auth', 'device', 'reg'].includes(first) ? first : (path || '/');
    stats.requests[endpoint] = (stats.requests[endpoint] ?? 0) + 1;

    if (path === '/token' && ctx.method === 'POST') {
      stats.tokenRequests += 1;
      // Read the body ourselves (oidc-provider then uses req.body) so that we
      // know the grant type *before* the grant is processed.
      let raw = '';
      try {
        raw = await readRaw(ctx.req);
      } catch (err) {
        log(`token: could not read body: ${err.message}`);
      }
      ctx.req.body = raw;
      const form = querystring.parse(raw);
      const grantType = String(form.grant_type ?? '(none)');
      const clientId = basicClientId(ctx.get('authorization')) ?? form.client_id ?? '(none)';
      const started = Date.now();
      if (grantType === 'refresh_token' && opts.refreshDelayMs > 0) {
        await sleep(opts.refreshDelayMs);
      }
      if (grantType === 'authorization_code' && codeExchangeGate) {
        const gate = codeExchangeGate;
        gate.waiting += 1;
        wakeHeldWatchers();
        await gate.held;
      }
      try {
        await next();
      } finally {
        let result = `${ctx.status}`;
        let body = ctx.body;
        if (typeof body === 'string') {
          try { body = JSON.parse(body); } catch { /* ignore */ }
        }
        if (ctx.status === 200) {
          stats.grants[grantType] = (stats.grants[grantType] ?? 0) + 1;
          const rotated = grantType === 'refresh_token' && body && typeof body === 'object' && 'refresh_token' in body
            ? (form.refresh_token === body.refresh_token ? ' rt=same' : ' rt=new') : '';
          const exp = body && typeof body === 'object' && body.expires_in ? ` expires_in=${body.expires_in}` : '';
          result += ` ok${exp}${rotated}`;
        } else {
          stats.tokenErrors += 1;
          stats.failed[grantType] = (stats.failed[grantType] ?? 0) + 1;
          if (body && typeof body === 'object' && body.error) {
            result += ` ${body.error}${body.error_description ? ` (${body.error_description})` : ''}`;
          }
        }
        const scope = form.scope !== undefined ? ` scope="${form.scope}"` : '';
        log(`token grant_type=${grantType} client=${clientId}${scope} -> ${result} [${Date.now() - started} ms]`);
      }
      return;
    }

    const started = Date.now();
    try {
      await next();
    } finally {
      log(`${ctx.method} ${path} -> ${ctx.status} [${Date.now() - started} ms]`);
    }
  });

  p.on('server_error', (_ctx, err) => log(`server_error: ${err?.stack ?? err}`));
  p.on('grant.revoked', (_ctx, grantId) => log(`grant revoked: ${grantId}`));
  p.on('refresh_token.consumed', () => log('refresh token consumed (rotation)'));
}

const tls = opts.cert ? { cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key) } : null;
let callback = null;
const handler = (req, res) => {
  if (!callback) {
    res.statusCode = 503;
    res.end('starting');
    return;
  }
  callback(req, res);
};
const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
server.keepAliveTimeout = 5000;

server.on('error', (err) => {
  log(`listen error: ${err.message}`);
  process.exit(1);
});

server.listen(opts.port, '127.0.0.1', () => {
  const { port } = server.address();
  issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  provider = new Provider(issuer, makeConfiguration());
  provider.proxy = false;
  installMiddleware(provider);
  callback = provider.callback();
  log(`issuer ${issuer} rotate=${opts.rotate} at_ttl=${opts.atTtl}s refresh_delay=${opts.refreshDelayMs}ms pid=${process.pid}`);
  process.stdout.write(`READY ${issuer}\n`);
});

function shutdown(sig) {
  log(`${sig}: shutting down`);
  server.close();
  server.closeAllConnections?.();
  if (logStream) logStream.end();
  setTimeout(() => process.exit(0), 50).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
// the harness owns us: when its end of stdout is gone, go away too
process.stdout.on('error', () => process.exit(0));
