// A local OpenID provider for test_access_oidc.py, on the certified `oidc-provider` package:
// authorization code flow with PKCE required, RS256 ID tokens, the client from the arguments.
// The login and consent steps have no UI: the account that signs in next is set with
// POST /test/next-user {"id", "username", "email", "groups"}, and every interaction completes
// at once as that account with every requested scope granted. POST /test/tamper {"on": true}
// makes the token endpoint alter the ID token's claims after signing.
//   node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const accounts = new Map();
let next = null;
// When set, the token endpoint's ID token is altered after signing (a tampered token).
let tamper = false;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { methods: ['S256'], required: () => true },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: { openid: ['sub'], profile: ['preferred_username'], email: ['email'], groups: ['groups'] },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['s3o-e2e-cookie-key'] },
  findAccount: async (ctx, id) => {
    const a = accounts.get(id);
    if (!a) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, preferred_username: a.username, email: a.email, groups: a.groups }) };
  },
});
provider.proxy = false;

provider.use(async (ctx, nextMiddleware) => {
  if (ctx.path === '/test/next-user' && ctx.method === 'POST') {
    const chunks = [];
    for await (const c of ctx.req) chunks.push(c);
    const a = JSON.parse(Buffer.concat(chunks).toString());
    accounts.set(a.id, a);
    next = a.id;
    ctx.body = { ok: true };
    return;
  }
  if (ctx.path === '/test/tamper' && ctx.method === 'POST') {
    const chunks = [];
    for await (const c of ctx.req) chunks.push(c);
    tamper = Boolean(JSON.parse(Buffer.concat(chunks).toString()).on);
    ctx.body = { ok: true };
    return;
  }
  if (ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name === 'login') {
      await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: next } }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(String(details.params.scope));
    grant.addOIDCClaims(['preferred_username', 'email', 'groups']);
    const grantId = await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  await nextMiddleware();
  if (tamper && ctx.path === '/token' && ctx.body && ctx.body.id_token) {
    const [h, p, sig] = ctx.body.id_token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    claims.sub = 'sub-mallory';
    claims.preferred_username = 'mallory';
    claims.groups = ['storage-admins'];
    ctx.body = { ...ctx.body, id_token: [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), sig].join('.') };
  }
});

provider.listen(Number(port), '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
