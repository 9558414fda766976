// What the identify room answers: which process (and OS user) holds the client end of a proxy
// connection. One interface, one implementation per OS (linux.ts, darwin.ts, windows.ts).

/** The proxy's view of one accepted client connection. */
export interface PeerQuery {
  /** The client socket's remote port as the proxy sees it: the app's local port. */
  clientPort: number;
  /** The client socket's remote address as the proxy sees it (127.0.0.1, ::1, ::ffff:127.0.0.1). */
  clientAddress?: string;
  /** The port the proxy accepted the connection on (the app's remote port). */
  proxyPort: number;
  /**
   * The address the proxy accepted the connection on (the proxy socket's localAddress). Lets Linux
   * ask the kernel for the one socket by its 4-tuple; without it loopback is assumed.
   */
  proxyAddress?: string;
  family?: 'IPv4' | 'IPv6';
}

export interface ProcessIdentity {
  pid: number;
  /** Numeric user id (effective); undefined on Windows, which has SIDs instead. */
  uid: number | undefined;
  /** OS account name: `alice` on Unix, `DOMAIN\alice` on Windows. */
  user: string | undefined;
  /** Executable path; undefined when the OS would not tell (permissions, process gone). */
  exe: string | undefined;
  argv: string[];
  /** Working directory, where the OS tells it cheaply (Linux); resolves relative script paths. */
  cwd?: string;
  /**
   * Linux: whether the process's paths name the files the daemon sees (it runs in the daemon's user
   * namespace, so it cannot have mounts or a root directory of its own). A process in a user
   * namespace of its own can bind-mount any file over /usr/bin/claude, so its paths prove nothing.
   * Undefined where it was not checked.
   */
  sharesFileView?: boolean;
  /**
   * Whether the executable's code signature was checked and what it said: `Valid`, `NotSigned`,
   * `AdHoc` (macOS), or Authenticode's status names on Windows (`HashMismatch`, `NotTrusted`...).
   * Undefined when it was not checked (Linux, or the check failed).
   */
  signatureStatus?: string;
  // Code identity, macOS (codesign).
  teamId?: string;
  bundleId?: string;
  signingId?: string;
  /** Certificate chain names, leaf first ("Developer ID Application: Anthropic PBC (Q6L2SF6YDW)", ...). */
  authorities?: string[];
  // Code identity, Windows (Authenticode + version info).
  /** Signer's common name when the signature is valid. */
  signer?: string;
  company?: string;
}

export interface ProcessResolver {
  /** The OS this resolver reads (`linux`, `darwin`, `win32`). */
  readonly platform: string;
  /**
   * Finds the process holding the client end of a proxy connection. Resolves undefined when the
   * connection or its process is gone, or the OS will not say; never rejects.
   */
  lookupByLocalPeer(query: PeerQuery): Promise<ProcessIdentity | undefined>;
}
