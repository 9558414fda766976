// Proof of device identity, the same on both sides: the text a device key signs for a gateway
// challenge, which public keys the protocol accepts, and the check the gateway runs.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

export type DeviceProofPurpose = 'enroll' | 'token';
export type DeviceKeyAlgorithm = 'ed25519' | 'p256';

/** The exact bytes signed: a fixed prefix and purpose, so a signature for one use is never valid for another. */
export function deviceProofText(purpose: DeviceProofPurpose, challenge: string, deviceId: string): Buffer {
  return Buffer.from(`heimdall-device-proof-v1\n${purpose}\n${challenge}\n${deviceId}`, 'utf8');
}

/**
 * The key object and algorithm of a base64 SubjectPublicKeyInfo, or an error naming what is wrong.
 * Ed25519 (file store) and P-256 (what TPMs and the Secure Enclave hold) only.
 */
export function checkDevicePublicKey(spkiBase64: string): { ok: true; key: KeyObject; algorithm: DeviceKeyAlgorithm } | { ok: false; reason: string } {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spkiBase64, 'base64'), format: 'der', type: 'spki' });
  } catch {
    return { ok: false, reason: 'public_key is not a DER SubjectPublicKeyInfo in base64' };
  }
  if (key.asymmetricKeyType === 'ed25519') return { ok: true, key, algorithm: 'ed25519' };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { ok: true, key, algorithm: 'p256' };
  return { ok: false, reason: `public_key is a ${key.asymmetricKeyType ?? 'unknown'} key; the protocol accepts Ed25519 or ECDSA P-256` };
}

/** Whether `signatureBase64` is the device key's signature over `text`. */
export function verifyDeviceProof(spkiBase64: string, text: Buffer, signatureBase64: string): boolean {
  const checked = checkDevicePublicKey(spkiBase64);
  if (!checked.ok) return false;
  const signature = Buffer.from(signatureBase64, 'base64');
  try {
    if (checked.algorithm === 'ed25519') return verify(null, text, checked.key, signature);
    return verify('sha256', text, { key: checked.key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
