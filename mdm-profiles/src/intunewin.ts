// The .intunewin container Intune takes for a Win32 app, built here instead of with Microsoft's
// Windows-only IntuneWinAppUtil: the setup folder is zipped, the zip encrypted with AES-256-CBC
// and authenticated with HMAC-SHA256 over IV + ciphertext, and the keys go in Detection.xml.
// Layout of the encrypted file: HMAC (32 bytes) | IV (16 bytes) | ciphertext.
// The keys in Detection.xml protect nothing secret (the MSI is the public installer); Intune needs
// them to decrypt the upload.
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { buildZip } from './zip.ts';
import { xmlEscape } from './xml.ts';

export const INTUNEWIN_CONTENT_PATH = 'IntuneWinPackage/Contents/IntunePackage.intunewin';
export const INTUNEWIN_DETECTION_PATH = 'IntuneWinPackage/Metadata/Detection.xml';

export interface IntunewinInput {
  setupFile: string;
  setupData: Buffer;
  /** MSI facts for Intune's MSI-aware handling (read from the MSI when msiinfo is available). */
  msi?: { productCode: string; upgradeCode: string; productVersion: string };
  /** Injected for tests; random per package otherwise. */
  keys?: { encryptionKey: Buffer; macKey: Buffer; iv: Buffer };
}

export function encryptContent(plain: Buffer, keys: { encryptionKey: Buffer; macKey: Buffer; iv: Buffer }): { file: Buffer; mac: Buffer } {
  const cipher = createCipheriv('aes-256-cbc', keys.encryptionKey, keys.iv);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  const mac = createHmac('sha256', keys.macKey).update(keys.iv).update(ciphertext).digest();
  return { file: Buffer.concat([mac, keys.iv, ciphertext]), mac };
}

export function buildIntunewin(input: IntunewinInput): Buffer {
  const keys = input.keys ?? { encryptionKey: randomBytes(32), macKey: randomBytes(32), iv: randomBytes(16) };
  const inner = buildZip([{ name: input.setupFile, data: input.setupData }]);
  const { file, mac } = encryptContent(inner, keys);
  const msi = input.msi
    ? `  <MsiInfo>
    <MsiProductCode>${xmlEscape(input.msi.productCode)}</MsiProductCode>
    <MsiProductVersion>${xmlEscape(input.msi.productVersion)}</MsiProductVersion>
    <MsiUpgradeCode>${xmlEscape(input.msi.upgradeCode)}</MsiUpgradeCode>
    <MsiExecutionContext>System</MsiExecutionContext>
    <MsiRequiresLogon>false</MsiRequiresLogon>
    <MsiRequiresReboot>false</MsiRequiresReboot>
    <MsiIsMachineInstall>true</MsiIsMachineInstall>
    <MsiIsUserInstall>false</MsiIsUserInstall>
    <MsiIncludesServices>true</MsiIncludesServices>
    <MsiIncludesODBCDataSource>false</MsiIncludesODBCDataSource>
    <MsiContainsSystemRegistryKeys>true</MsiContainsSystemRegistryKeys>
    <MsiContainsSystemFolders>false</MsiContainsSystemFolders>
  </MsiInfo>
`
    : '';
  const detection = `<?xml version="1.0" encoding="utf-8"?>
<ApplicationInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ToolVersion="1.8.6.0">
  <Name>${xmlEscape(input.setupFile)}</Name>
  <UnencryptedContentSize>${inner.length}</UnencryptedContentSize>
  <FileName>IntunePackage.intunewin</FileName>
  <SetupFile>${xmlEscape(input.setupFile)}</SetupFile>
  <EncryptionInfo>
    <EncryptionKey>${keys.encryptionKey.toString('base64')}</EncryptionKey>
    <MacKey>${keys.macKey.toString('base64')}</MacKey>
    <InitializationVector>${keys.iv.toString('base64')}</InitializationVector>
    <Mac>${mac.toString('base64')}</Mac>
    <ProfileIdentifier>ProfileVersion1</ProfileIdentifier>
    <FileDigest>${createHash('sha256').update(inner).digest('base64')}</FileDigest>
    <FileDigestAlgorithm>SHA256</FileDigestAlgorithm>
  </EncryptionInfo>
${msi}</ApplicationInfo>
`;
  return buildZip([
    { name: INTUNEWIN_CONTENT_PATH, data: file, store: true },
    { name: INTUNEWIN_DETECTION_PATH, data: Buffer.from(detection, 'utf8') },
  ]);
}
