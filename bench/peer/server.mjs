// The benchmark's peer: panva's oidc-provider (version pinned in package.json), with its
// built-in in-memory adapter and one confidential client_credentials client, listening on
// loopback only. Started by bench/run; prints "peer listening on http://ADDR" when ready.
//
// Environment: PEER_PORT (default 0: any free port), PEER_CLIENT_ID, PEER_CLIENT_SECRET.
import Provider from 'oidc-provider';

const host = '127.0.0.1';
const port = Number(process.env.PEER_PORT ?? 0);
const clientId = process.env.PEER_CLIENT_ID ?? 'bench';
const clientSecret = process.env.PEER_CLIENT_SECRET ?? 'bench-secret-bench-secret-bench-secret';

const provider = new Provider(`http://${host}`, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'api:read',
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  scopes: ['api:read'],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
  },
  // Opaque access tokens, as Portcullis issues by default.
  ttl: { ClientCredentials: 3600 },
});

// oidc-provider logs server errors through its 'server_error' event only.
provider.on('server_error', (_ctx, err) => console.error('server_error', err?.message));

const server = provider.listen(port, host, () => {
  const a = server.address();
  console.log(`peer listening on http://${a.address}:${a.port}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
