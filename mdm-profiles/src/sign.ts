// Signs a .mobileconfig as macOS expects: a CMS SignedData (DER) with the profile attached, so the
// Mac shows it as "Verified" and an MDM can check who issued it.
import forge from 'node-forge';

export function signProfile(profile: string | Buffer, certPem: string, keyPem: string): Buffer {
  let cert: forge.pki.Certificate;
  let key: forge.pki.PrivateKey;
  try {
    cert = forge.pki.certificateFromPem(certPem);
  } catch (err) {
    throw new Error(`--sign-cert: not a PEM certificate (${(err as Error).message})`, { cause: err });
  }
  try {
    key = forge.pki.privateKeyFromPem(keyPem);
  } catch (err) {
    throw new Error(`--sign-key: not a PEM RSA private key (${(err as Error).message}); node-forge signs with RSA keys only`, { cause: err });
  }
  const p7 = forge.pkcs7.createSignedData();
  p7.content = forge.util.createBuffer(Buffer.from(profile).toString('binary'));
  p7.addCertificate(cert);
  p7.addSigner({
    key,
    certificate: cert,
    digestAlgorithm: forge.pki.oids.sha256!,
    authenticatedAttributes: [
      { type: forge.pki.oids.contentType!, value: forge.pki.oids.data! },
      { type: forge.pki.oids.messageDigest! },
      { type: forge.pki.oids.signingTime! },
    ],
  });
  p7.sign();
  return Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), 'binary');
}
