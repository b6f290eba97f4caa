// A real, certified OpenID provider for the social sign-in tests: `oidc-provider` (npm, installed
// by `cargo xtask install-tools` into OIDC_PROVIDER_DIR) on a loopback port.
//
//   node provider.mjs <port> <clients-json>      (or OIDC_PORT / OIDC_CLIENTS)
//
// <clients-json>: [{"client_id","client_secret","redirect_uris":[...]}]. Prints `ready` on stdout
// once listening. The dev login form accepts any login and password; the account id is the login.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(2);
}

const dir = process.env.OIDC_PROVIDER_DIR;
if (!dir) {
  fail('OIDC_PROVIDER_DIR is not set: run `cargo xtask install-tools` (installs oidc-provider) '
    + 'and set OIDC_PROVIDER_DIR to ~/.cache/dioxus-auth-starter/oidc-provider-<version>');
}
// ESM resolves bare imports next to this script, not next to the cache: import by file URL.
const entry = join(dir, 'node_modules', 'oidc-provider', 'lib', 'index.js');
let Provider;
try {
  ({ default: Provider } = await import(pathToFileURL(entry).href));
} catch (e) {
  fail(`cannot load oidc-provider from ${entry} (OIDC_PROVIDER_DIR=${dir}): ${e.message}`);
}

const port = Number(process.argv[2] ?? process.env.OIDC_PORT);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  fail(`usage: node provider.mjs <port> <clients-json> (got port ${process.argv[2]})`);
}
let clients;
try {
  clients = JSON.parse(process.argv[3] ?? process.env.OIDC_CLIENTS ?? '[]');
} catch (e) {
  fail(`the clients argument is not JSON: ${e.message}`);
}

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // oidc-provider accepts client_secret_post too for a client registered with either.
    token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_basic',
  })),
  // PKCE (S256, the only method oidc-provider 9 supports) for every client, not only public ones.
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  // Put email and profile claims in the ID token, as Google does, not only at /userinfo.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'picture'],
  },
  // Fixed keys: cookies stay valid across the whole run, no signing warnings.
  cookies: { keys: ['oidc-test-provider-cookie-key'] },
  ttl: {
    AuthorizationCode: 60,
    AccessToken: 600,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: id.includes('@') ? id : `${id}@example.test`,
          email_verified: !id.startsWith('unverified'),
          name: `Test ${id}`,
          picture: `https://example.test/${id}.png`,
        };
      },
    };
  },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = provider.listen(port, '127.0.0.1');
server.on('error', (e) => fail(`cannot listen on 127.0.0.1:${port}: ${e.message}`));
server.on('listening', () => console.log('ready'));
