// Certificate requests alone: a CSR goes out with an id, the answer with that id settles it, and the
// timeout runs on the injected clock.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../agent/src/lib/clock.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { CertificateRequests, SyncError } from '../../agent/src/sync/index.ts';
import type { AgentMessage, CertMessage } from '../../protocol/index.ts';

function requests(canSend = true) {
  const clock = new ManualClock();
  const sent: AgentMessage[] = [];
  const certs = new CertificateRequests({
    send: (m) => {
      if (canSend) sent.push(m);
      return canSend;
    },
    channelState: () => 'backoff',
    clock,
    logger: silentLogger(),
  });
  return { clock, sent, certs };
}

const answerFor = (id: string): CertMessage => ({ type: 'cert', id, ok: true, cert_pem: 'LEAF', ca_pem: 'CA', not_after: '2030-01-01T00:00:00Z' });

describe('certificate requests', () => {
  it('sends cert.sign with the CSR and hosts, and resolves with the answer carrying its id', async () => {
    const { sent, certs } = requests();
    const first = certs.request('CSR-1', ['api.openai.com']);
    const second = certs.request('CSR-2', ['api.anthropic.com']);
    expect(sent).toMatchObject([
      { type: 'cert.sign', csr_pem: 'CSR-1', hosts: ['api.openai.com'] },
      { type: 'cert.sign', csr_pem: 'CSR-2', hosts: ['api.anthropic.com'] },
    ]);
    const [id1, id2] = sent.map((m) => (m as { id: string }).id);
    expect(id1).not.toBe(id2);
    certs.answer(answerFor(id2!));
    certs.answer(answerFor(id1!));
    await expect(first).resolves.toMatchObject({ id: id1, cert_pem: 'LEAF' });
    await expect(second).resolves.toMatchObject({ id: id2 });
  });

  it('rejects when the clock passes the timeout without an answer, and ignores the late answer', async () => {
    const { clock, sent, certs } = requests();
    let settled: string | undefined;
    const pending = certs.request('CSR', ['api.openai.com'], 15_000).then(
      () => (settled = 'resolved'),
      (err: Error) => (settled = err.message),
    );
    clock.advance(14_999);
    await Promise.resolve();
    expect(settled).toBeUndefined();
    clock.advance(1);
    await pending;
    expect(settled).toMatch(/did not answer the certificate request within 15000 ms/);
    certs.answer(answerFor((sent[0] as { id: string }).id)); // late: no pending request, no throw
  });

  it('rejects at once, naming the channel state, when the channel cannot send', async () => {
    const { clock, certs } = requests(false);
    await expect(certs.request('CSR', ['api.openai.com'])).rejects.toThrow(/the sync channel is backoff/);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects every pending request when the channel stops', async () => {
    const { clock, certs } = requests();
    const a = certs.request('CSR-a', ['api.openai.com']);
    const b = certs.request('CSR-b', ['api.openai.com']);
    certs.failAll('the sync channel stopped');
    await expect(a).rejects.toBeInstanceOf(SyncError);
    await expect(b).rejects.toThrow('the sync channel stopped');
    expect(clock.pendingTimers).toBe(0);
  });
});
