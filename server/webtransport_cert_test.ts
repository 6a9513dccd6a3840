import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { certificateSha256, makeEphemeralCertificate } from "./webtransport_cert.ts";

Deno.test("ephemeral certificate: ECDSA P-256 end certificate, at most 14 days, self-verifying", async () => {
  const made = await makeEphemeralCertificate({ names: ["localhost", "127.0.0.1"] });
  const cert = new X509Certificate(made.cert);
  assert.equal(cert.ca, false);
  assert.equal(cert.publicKey.asymmetricKeyType, "ec");
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
  assert.ok(days <= 14 && days >= 9, `valid ${days} days`);
  assert.ok(cert.verify(cert.publicKey), "the signature checks out");
  assert.match(cert.subjectAltName ?? "", /DNS:localhost/);
  assert.match(cert.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
  assert.equal(await certificateSha256(made.cert), made.sha256);
  assert.match(made.key, /BEGIN PRIVATE KEY/);
});
