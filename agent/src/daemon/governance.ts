// The daemon's Governor: connects the proxy (intercept) to identify and policy. Who is calling is
// looked up once per client connection; may they is asked again on every request, so an admin's
// approval or denial applies to the next request even on a kept-alive connection.
import type { ApprovalRequestMessage } from '../../../protocol/index.ts';
import { APP_CATALOG, CONSUMER_SURFACES, UNKNOWN_APP_ID, type AppResolver, type CatalogApp, type ProcessResolver } from '../identify/index.ts';
import type { Attribution, ConnectionAdmission, ConnectionInfo, Governor, RequestDecision, RequestInfo } from '../intercept/index.ts';
import type { Logger } from '../lib/logger.ts';
import { blockMessage, blockReasonOf, type ApprovalTracker, type PolicyDecision, type PolicyEngine } from '../policy/index.ts';

export interface GovernanceOptions {
  processes: ProcessResolver;
  apps: AppResolver;
  policy: PolicyEngine;
  approvals: ApprovalTracker;
  /** The gateway user id of an OS user who signed in, for user-scoped decisions. */
  userIdFor: (osUser: string) => string | undefined;
  /** Sends an approval request now; false when the channel is down. */
  sendApprovalRequest: (message: ApprovalRequestMessage) => boolean;
  messageContext: () => { organization?: string | undefined; supportUrl?: string | undefined };
  logger: Logger;
}

// AI sites that no route intercepts (consumer surfaces outside the routing table): a blocked app's
// CONNECT to them is refused outright, since no request inside the tunnel can be seen.
const UNINTERCEPTED_AI_HOSTS: ReadonlySet<string> = new Set(CONSUMER_SURFACES);

// Apps that pin their certificates cannot be served through a terminated TLS connection.
const PINNING_APPS: ReadonlySet<string> = new Set((APP_CATALOG as readonly CatalogApp[]).filter((a) => a.pinsCertificates === true).map((a) => a.id));

const SELF_CONNECTION: PolicyDecision = { verdict: 'block', status: 'denied', scope: 'fail_mode', reason: 'a connection from the daemon itself', policyVersion: null };

export class Governance implements Governor {
  readonly #o: GovernanceOptions;

  constructor(options: GovernanceOptions) {
    this.#o = options;
  }

  async admitConnection(info: ConnectionInfo): Promise<ConnectionAdmission> {
    const identity = await this.#o.processes.lookupByLocalPeer({
      clientPort: info.clientPort,
      clientAddress: info.clientAddress,
      proxyAddress: info.proxyAddress,
      proxyPort: info.proxyPort,
      family: info.family,
    });
    if (identity?.pid === process.pid) {
      // The proxy reached itself (a loop an allow-list let through): nothing is attributed to root's daemon.
      this.#o.logger.warn({ host: info.targetHost }, 'refusing a connection that comes from the daemon itself');
      return { decision: 'refuse', reason: 'Heimdall does not carry its own connections.', attribution: { routingMode: 'gateway' }, atConnect: true, policy: SELF_CONNECTION };
    }
    const app = await this.#o.apps.resolveApp(identity, { host: info.targetHost });
    const attribution: Attribution = {
      appId: app.appId,
      appName: app.displayName,
      appKind: app.kind,
      ...(app.subject !== undefined ? { appSubject: app.subject } : {}),
      ...(identity !== undefined ? { identityVerified: app.verified } : {}),
      ...(app.proof !== undefined ? { identityProof: app.proof } : {}),
      ...(identity?.user !== undefined ? { osUser: identity.user } : {}),
      ...(identity?.uid !== undefined ? { uid: identity.uid } : {}),
      routingMode: this.#o.policy.routingFor(app.appId),
    };
    if (app.appId === UNKNOWN_APP_ID) this.#o.logger.debug({ host: info.targetHost, client_port: info.clientPort }, 'connection from a process that could not be identified');
    else if (app.unverifiedWhy !== undefined && app.matchedBy !== 'none') {
      this.#o.logger.debug({ app: app.appId, host: info.targetHost, why: app.unverifiedWhy }, 'app named but its identity is unverified');
    }
    if (info.intercepted && PINNING_APPS.has(app.appId)) {
      // Governed at the CONNECT: blocked apps are refused there, allowed ones pass through untouched.
      const decision = this.#decide(attribution);
      if (decision.verdict === 'block') return { decision: 'refuse', reason: this.#message(attribution, decision), attribution, atConnect: true, policy: decision };
      return { decision: 'admit', attribution, tunnel: true };
    }
    if (!info.intercepted && UNINTERCEPTED_AI_HOSTS.has(info.targetHost.toLowerCase())) {
      const decision = this.#decide(attribution);
      if (decision.verdict === 'block') return { decision: 'refuse', reason: this.#message(attribution, decision), attribution, policy: decision };
    }
    return { decision: 'admit', attribution };
  }

  admitRequest(attribution: Attribution, _request: RequestInfo): RequestDecision {
    const decision = this.#decide(attribution);
    return decision.verdict === 'block'
      ? { decision: 'block', message: this.#message(attribution, decision), policy: decision }
      : { decision: 'allow', policy: decision };
  }

  /** Policy's decision for an attribution; the use is reported for approval from that same decision. */
  #decide(attribution: Attribution): PolicyDecision {
    const appId = attribution.appId ?? UNKNOWN_APP_ID;
    const osUser = attribution.osUser;
    const decision = this.#o.policy.decideApp({ appId, osUser, userId: osUser !== undefined ? this.#o.userIdFor(osUser) : undefined, verified: attribution.identityVerified === true });
    this.#o.approvals.reportUse(
      {
        kind: 'app',
        appId,
        displayName: attribution.appName ?? appId,
        osUser,
        ...(attribution.appSubject !== undefined ? { details: { subject: attribution.appSubject } } : {}),
      },
      decision,
      this.#o.sendApprovalRequest,
    );
    return decision;
  }

  #message(attribution: Attribution, decision: PolicyDecision): string {
    const ctx = this.#o.messageContext();
    return blockMessage({ appName: attribution.appName ?? 'This app', appId: attribution.appId === UNKNOWN_APP_ID ? undefined : attribution.appId, organization: ctx.organization, supportUrl: ctx.supportUrl, reason: blockReasonOf(decision) });
  }
}
