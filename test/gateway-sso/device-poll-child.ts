// A second process for the device-code test: polls the token endpoint at the interval as an agent
// would, and prints the token response (or the error) as JSON on stdout. Exit 0 on success.
// argv: <gateway url> <device_code> <device token> <os user>
import { AGENT_CLIENT_ID, DEVICE_CODE_GRANT, DEVICE_TOKEN_HEADER, OAUTH_TOKEN_PATH, SSO_TIMING } from '../../protocol/index.ts';

const [url, deviceCode, deviceToken, osUser] = process.argv.slice(2) as [string, string, string, string];
let interval = SSO_TIMING.deviceCodeIntervalS;
for (let i = 0; i < 40; i += 1) {
  await new Promise((resolve) => setTimeout(resolve, interval * 1000));
  const res = await fetch(`${url}${OAUTH_TOKEN_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', [DEVICE_TOKEN_HEADER]: deviceToken },
    body: new URLSearchParams({ grant_type: DEVICE_CODE_GRANT, client_id: AGENT_CLIENT_ID, device_code: deviceCode, os_user: osUser }).toString(),
  });
  const body = (await res.json()) as { error?: string };
  if (body.error === 'authorization_pending') continue;
  if (body.error === 'slow_down') {
    interval += 5;
    continue;
  }
  process.stdout.write(JSON.stringify(body));
  process.exit(res.status === 200 ? 0 : 1);
}
process.exit(2);
