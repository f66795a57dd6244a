/**
 * `npm run --silent signing-key`: prints a new Ed25519 private JWK, the value of the signing key's
 * secret, to standard output, and its kid to standard error. For rotating the key, or signing with
 * a key of your own from the first deploy (docs/operating.md, "Rotating the signing key").
 */
import { newPrivateJwk, signingKeyOf } from '../lib/evidence/jwk.ts';

const jwk = newPrivateJwk();
process.stdout.write(`${JSON.stringify(jwk)}\n`);
process.stderr.write(`kid ${signingKeyOf({ ...jwk }).kid}\n`);
