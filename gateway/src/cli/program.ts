// The `heimdall-gateway` command line: `run` starts the gateway; every other command talks to the
// running gateway's admin API (so the CLI works the same on the gateway host and from elsewhere).
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { createLogger, LOG_LEVELS, VERSION, type LogLevel } from '../../../lib/index.ts';
import { adminRequest, CliError, resolveTarget, type TargetFlags } from './admin-client.ts';
import { day, fixed, outputWidth, table, when, wrapped, type Cell, type Column } from './format.ts';

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** How wide tables may be (no limit when unknown). */
  width?: number;
}

interface TargetOptions extends TargetFlags {
  json?: boolean;
}

function example(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText('after', `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/** The options every admin command takes to find the gateway. */
function adminCommand(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .option('--url <url>', 'admin URL of the gateway (env HEIMDALL_GATEWAY_URL)')
    .option('--token-file <file>', 'file holding the admin token (env HEIMDALL_ADMIN_TOKEN holds the token itself)')
    // Refused with a message, not unknown: a token in argv is visible to every user in the process list.
    .addOption(new Option('--token <token>').hideHelp())
    .option('--data-dir <dir>', "a local gateway's data dir: read its URL and admin token from there (env HEIMDALL_GATEWAY_DATA_DIR)")
    .option('--json', "print the admin API's JSON answer as it is (every value whole)");
}

interface CatalogItemJson {
  id?: string;
  fingerprint?: string;
  app?: string | null;
  display_name: string | null;
  status: string;
  fleet_count: number;
  first_seen_at: string;
  last_seen_at: string;
  user_decisions: { user_email: string; status: string }[];
}

function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new CliError(`--listen ${JSON.stringify(value)}: expected HOST:PORT, e.g. 127.0.0.1:8787`);
  return { host: m[1] ?? m[2]!, port };
}

/**
 * Who an event belongs to: the person (their email) and, for agent events, the OS account on the
 * device (`carol@example.com (carol)`); an OS user who never signed in is shown alone.
 */
export function eventUser(e: { user_email: string | null; os_user: string | null }): string | null {
  if (e.user_email && e.os_user) return `${e.user_email} (${e.os_user})`;
  return e.user_email ?? e.os_user;
}

/** An event's attributes as `key=value` words, without empty ones and the user the table shows already. */
export function eventDetails(attrs: Record<string, unknown>): string {
  return Object.entries(attrs)
    .filter(([k, v]) => v !== null && v !== undefined && k !== 'user_email')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

/** `settings set KEY VALUE` -> the PATCH body; the gateway validates and names a bad field. */
export function settingsPatch(key: string, value: string): Record<string, unknown> {
  const routing = /^routing\.(.+)$/.exec(key);
  if (routing) return { routing: { [routing[1]!]: value === 'default' ? null : value } };
  const verified = /^require_verified\.(.+)$/.exec(key);
  if (verified) return { require_verified: { [verified[1]!]: value === 'true' ? true : value === 'false' ? false : value } };
  const scalar = value === 'true' ? true : value === 'false' ? false : /^-?\d+$/.test(value) ? Number(value) : value;
  return { [key]: scalar };
}

const STDIO: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), width: outputWidth() };

export function buildProgram(io: Io = STDIO): Command {
  const program = new Command('heimdall-gateway')
    .description("Heimdall's reference central gateway: control plane for agents (policy, inventory, events, CA) and Bifrost-compatible inference routes.")
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  program.addHelpText('after', "\nTables fit the terminal (COLUMNS when the output is not one): long values are cut with … or wrapped; --json prints the admin API's answer as it is.\n");
  example(program, 'heimdall-gateway run --data-dir /var/lib/heimdall-gateway --listen 127.0.0.1:8787', 'heimdall-gateway apps list --data-dir /var/lib/heimdall-gateway');

  const print = (opts: TargetOptions, json: unknown, text: () => string) => io.out(opts.json ? `${JSON.stringify(json, null, 2)}\n` : text());
  const grid = (columns: readonly (string | Column)[], rows: readonly (readonly Cell[])[]) =>
    table(columns.map((c) => (typeof c === 'string' ? { header: c } : c)), rows, io.width);

  // ---- run ----
  example(
    program
      .command('run')
      .description('Start the gateway (admin token generated at first start into DATA_DIR/admin-token, 0600; never printed).')
      .requiredOption('--data-dir <dir>', 'where the database and admin token live (created 0700)')
      .option('--listen <host:port>', 'listen address; the admin API answers loopback callers only unless the config allows remote', '127.0.0.1:8787')
      .option('--config <file>', 'gateway config file (JSON: public_url, tls, admin, inference)')
      .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
      .action(async (opts: { dataDir: string; listen: string; config?: string; logLevel: LogLevel }) => {
        const { host, port } = parseListen(opts.listen);
        // Loaded here, not at the top: the admin commands never need the gateway itself, and start faster without it.
        const [{ loadGatewayConfig }, { startGateway }] = await Promise.all([import('../config.ts'), import('../server.ts')]);
        const config = opts.config ? loadGatewayConfig(opts.config) : undefined;
        const logger = createLogger({ level: opts.logLevel, name: 'heimdall-gateway' });
        const gateway = await startGateway({ dataDir: opts.dataDir, host, port, logger, ...(config ? { config } : {}) });
        // The token itself is never printed (log collectors keep stderr): say where it is.
        if (gateway.adminTokenCreated) {
          io.err(
            `\nAdmin token created in ${gateway.adminTokenFile} (0600, readable by this account only; the database keeps only its hash).\n` +
              `Admin commands on this machine read it with --data-dir ${opts.dataDir}; elsewhere, set HEIMDALL_ADMIN_TOKEN or pass --token-file FILE.\n\n`,
          );
        }
        // SIGTERM (an orchestrator, a deploy) drains: agents move to the other replicas spread over the
        // drain window (docs/operations.md). SIGINT (a person at a terminal), or a second signal
        // during a drain, stops at once.
        const stop = (signal: string) => {
          const how = signal === 'SIGTERM' && !gateway.draining ? 'drain' : 'close';
          logger.info({ signal, how }, 'stop requested');
          (how === 'drain' ? gateway.drain() : gateway.close()).then(
            () => process.exit(0),
            (err: unknown) => {
              logger.error({ err }, 'unclean stop');
              process.exit(1);
            },
          );
        };
        process.on('SIGINT', () => stop('SIGINT'));
        process.on('SIGTERM', () => stop('SIGTERM'));
      }),
    'heimdall-gateway run --data-dir ./gw-data --listen 127.0.0.1:8787 --config gateway.json',
  );

  // ---- apps and mcp ----
  const catalog = (kind: 'apps' | 'mcp') => {
    const resource = kind === 'apps' ? 'apps' : 'mcp-servers';
    const idName = kind === 'apps' ? 'APP_ID' : 'FINGERPRINT';
    const noun = kind === 'apps' ? 'app' : 'MCP server';
    const group = program.command(kind).description(kind === 'apps' ? 'The app catalog: list, decide, delete, merge.' : 'The MCP server catalog: list, decide, delete, merge.');
    example(
      adminCommand(group, 'list', `List ${noun}s with status, fleet count, first and last seen, user exceptions.`)
        .option('--status <status>', 'only pending, approved or denied (the gateway checks it)')
        .action(async (opts: TargetOptions & { status?: string }) => {
          const query = opts.status === undefined ? '' : `?${new URLSearchParams({ status: opts.status }).toString()}`;
          const json = await adminRequest<Record<string, CatalogItemJson[]>>(resolveTarget(opts), 'GET', `${resource}${query}`);
          const items = json[kind === 'apps' ? 'apps' : 'mcp_servers'] ?? [];
          print(opts, json, () =>
            grid(
              [...(kind === 'apps' ? ['id', 'name'] : ['fingerprint', 'name', 'app']), fixed('status'), fixed('devices'), fixed('first seen'), fixed('last seen'), wrapped('user exceptions')],
              items.map((i) => [
                ...(kind === 'apps' ? [i.id, i.display_name] : [i.fingerprint, i.display_name, i.app]),
                i.status,
                i.fleet_count,
                day(i.first_seen_at),
                when(i.last_seen_at),
                i.user_decisions.map((d) => `${d.user_email}:${d.status}`).join(', '),
              ]),
            ),
          );
        }),
      `heimdall-gateway ${kind} list --status pending --data-dir ./gw-data`,
    );
    // Which ids are accepted: the gateway refuses any other, naming the accepted ones.
    const accepted = kind === 'apps' ? ' APP_ID: an app agents know by name (claude-code, codex-cli, cursor, ...) or one in `apps list`.' : ' FINGERPRINT: one in `mcp list`.';
    for (const [verb, status, description] of [
      ['approve', 'approved', `Approve an ${noun} for everyone, or for one user with --user.${accepted}`],
      ['deny', 'denied', `Deny an ${noun} for everyone, or for one user with --user.${accepted}`],
      ['reset', 'pending', `Set an ${noun} back to pending for everyone, or remove one user's exception with --user.${accepted}`],
    ] as const) {
      example(
        adminCommand(group, `${verb} <${idName.toLowerCase()}>`, description)
          .option('--user <email>', 'decide for this user only (deny always wins over an approval)')
          .action(async (id: string, opts: TargetOptions & { user?: string }) => {
            const body = { status, ...(opts.user ? { user: opts.user } : {}) };
            const json = await adminRequest<CatalogItemJson>(resolveTarget(opts), 'POST', `${resource}/${encodeURIComponent(id)}/decision`, body);
            print(opts, json, () => `${noun} ${id}: ${opts.user ? `${status} for ${opts.user}` : status}\n`);
          }),
        kind === 'apps' ? `heimdall-gateway apps ${verb} cursor${verb === 'deny' ? '' : ' --user alice@example.com'}` : `heimdall-gateway mcp ${verb} 3f9a0c1d2e4b5a67`,
      );
    }
    example(
      adminCommand(group, `delete <${idName.toLowerCase()}...>`, `Delete ${noun}s from the catalog with their devices and user exceptions (one still installed comes back, pending, at its device's next report).`).action(
        async (ids: string[], opts: TargetOptions) => {
          const json = await adminRequest<{ deleted: number }>(resolveTarget(opts), 'POST', `${resource}/delete`, { ids });
          print(opts, json, () => `${json.deleted} ${noun}${json.deleted === 1 ? '' : 's'} deleted\n`);
        },
      ),
      kind === 'apps' ? 'heimdall-gateway apps delete junk-1 junk-2' : 'heimdall-gateway mcp delete 3f9a0c1d2e4b5a67',
    );
    example(
      adminCommand(group, `merge <from> <into>`, `Fold one ${noun} into another: its devices and user exceptions move, INTO keeps its own decision, FROM is deleted.`).action(
        async (from: string, into: string, opts: TargetOptions) => {
          const json = await adminRequest<CatalogItemJson>(resolveTarget(opts), 'POST', `${resource}/${encodeURIComponent(from)}/merge`, { into });
          print(opts, json, () => `${noun} ${from} merged into ${into} (${json.status}, ${json.fleet_count} devices)\n`);
        },
      ),
      kind === 'apps' ? 'heimdall-gateway apps merge claude-code-beta claude-code' : 'heimdall-gateway mcp merge 3f9a0c1d2e4b5a67 9e8d7c6b5a493827',
    );
  };
  catalog('apps');
  catalog('mcp');

  // ---- approvals ----
  const approvals = program.command('approvals').description('The approval queue: pending apps and MCP servers, with what people asked and why.');
  example(
    adminCommand(approvals, 'list', 'List pending items, those people asked for first: who asked (person, OS user, device), when, and their reason.').action(async (opts: TargetOptions) => {
      const json = await adminRequest<{ approvals: { kind: string; id?: string; fingerprint?: string; display_name: string | null; fleet_count: number; requests: { at: string; hostname: string | null; os_user: string | null; user_email: string | null; reason: string }[] }[] }>(
        resolveTarget(opts),
        'GET',
        'approvals',
      );
      print(opts, json, () =>
        grid(
          ['kind', 'id', 'name', fixed('fleet'), 'asked by', fixed('when'), 'reason'],
          json.approvals.flatMap((a) => {
            const id = a.id ?? a.fingerprint ?? '';
            if (a.requests.length === 0) return [[a.kind, id, a.display_name, String(a.fleet_count), null, null, null]];
            return a.requests.map((r) => [a.kind, id, a.display_name, String(a.fleet_count), [r.user_email, r.os_user ? `(${r.os_user}${r.hostname ? `@${r.hostname}` : ''})` : null].filter(Boolean).join(' '), when(r.at), r.reason]);
          }),
        ),
      );
    }),
    'heimdall-gateway approvals list --data-dir ./gw-data',
  );

  // ---- devices ----
  const devices = program.command('devices').description('Enrolled devices.');
  example(
    adminCommand(devices, 'list', 'List devices: hostname, owner, OS, agent version, last seen, connected.').action(async (opts: TargetOptions) => {
      const json = await adminRequest<{ devices: { id: string; hostname: string; owner: { email: string }; os: string; os_version: string | null; arch: string | null; agent_version: string | null; last_seen_at: string | null; connected: boolean; revoked_at: string | null }[] }>(
        resolveTarget(opts),
        'GET',
        'devices',
      );
      print(opts, json, () =>
        grid(
          ['id', 'hostname', 'owner', 'os', fixed('arch'), 'agent', fixed('last seen'), fixed('connected'), fixed('revoked')],
          json.devices.map((d) => [d.id, d.hostname, d.owner.email, [d.os, d.os_version].filter(Boolean).join(' '), d.arch, d.agent_version, when(d.last_seen_at), d.connected ? 'yes' : 'no', when(d.revoked_at)]),
        ),
      );
    }),
    'heimdall-gateway devices list --data-dir ./gw-data',
  );
  example(
    adminCommand(
      devices,
      'revoke <device_id>',
      'Revoke a device: its connection closes now (4403), its tokens stop working for sync and inference, its id and key cannot enroll again until `devices reset`, and the virtual keys signed in on it are revoked.',
    ).action(async (id: string, opts: TargetOptions) => {
      const json = await adminRequest<{ revoked_key_ids?: string[] }>(resolveTarget(opts), 'POST', `devices/${encodeURIComponent(id)}/revoke`);
      const keys = json.revoked_key_ids ?? [];
      print(opts, json, () => `device ${id} revoked${keys.length > 0 ? `; virtual keys revoked with it: ${keys.join(', ')}` : ''}\n`);
    }),
    'heimdall-gateway devices revoke 2f1c9a7e-alice-mbp',
  );
  example(
    adminCommand(
      devices,
      'reset <device_id>',
      'Let a device id enroll again with a new device key (a reinstalled machine, a returned laptop): clears its key binding, revocation, sign-ins and tokens.',
    ).action(async (id: string, opts: TargetOptions) => {
      const json = await adminRequest(resolveTarget(opts), 'POST', `devices/${encodeURIComponent(id)}/reset`);
      print(opts, json, () => `device ${id} reset: the next enrollment of this id binds a new device key\n`);
    }),
    'heimdall-gateway devices reset 2f1c9a7e-alice-mbp',
  );

  // ---- settings ----
  const settings = program.command('settings').description('Organization settings sent to every agent with the policy.');
  example(
    adminCommand(settings, 'get [key]', 'Show all settings, or one (with --json: the whole answer).').action(async (key: string | undefined, opts: TargetOptions) => {
      const json = await adminRequest<Record<string, unknown>>(resolveTarget(opts), 'GET', 'settings');
      const value =
        key === undefined
          ? undefined
          : key.startsWith('routing.')
            ? ((json['routing'] as Record<string, unknown>)[key.slice(8)] ?? 'gateway (default)')
            : key.startsWith('require_verified.')
              ? ((json['require_verified'] as string[] | undefined) ?? []).includes(key.slice('require_verified.'.length))
              : json[key];
      if (key !== undefined && value === undefined) throw new CliError(`no setting ${JSON.stringify(key)}; accepted: ${Object.keys(json).join(', ')}, routing.<app_id>, require_verified.<app_id>`);
      print(opts, json, () =>
        key === undefined ? Object.entries(json).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n') + '\n' : `${typeof value === 'string' ? value : JSON.stringify(value)}\n`,
      );
    }),
    'heimdall-gateway settings get pending_action',
  );
  example(
    adminCommand(
      settings,
      'set <key> <value>',
      'Change a setting: pending_action allow|block, fail_mode open|closed, intercept true|false, full_resync_s N, allow_direct_keys true|false, routing.<app_id> gateway|passthrough|default, require_verified.<app_id> true|false (allow the app only when the agent verified it).',
    ).action(async (key: string, value: string, opts: TargetOptions) => {
      const json = await adminRequest<Record<string, unknown>>(resolveTarget(opts), 'PATCH', 'settings', settingsPatch(key, value));
      print(opts, json, () => `${key} = ${value}\n`);
    }),
    'heimdall-gateway settings set pending_action block',
    'heimdall-gateway settings set routing.codex-cli passthrough',
    'heimdall-gateway settings set require_verified.claude-code true',
  );

  // ---- admin token ----
  const adminTokenCmd = program.command('admin-token').description('The admin token: one plaintext copy in DATA_DIR/admin-token (0600), only its hash in the database.');
  example(
    adminCommand(adminTokenCmd, 'rotate', 'Replace the admin token: the gateway writes the new one to its admin-token file; the old one stops working at once.').action(
      async (opts: TargetOptions) => {
        const target = resolveTarget(opts);
        const json = await adminRequest<{ token: string; file: string }>(target, 'POST', 'admin-token/rotate');
        const local = (opts.dataDir ?? process.env['HEIMDALL_GATEWAY_DATA_DIR']) !== undefined;
        if (local) {
          // On the gateway's machine the file is the copy: the token is not printed.
          print(opts, { file: json.file, rotated: true }, () => `admin token rotated; the new one is in ${json.file} (0600); the old one no longer works\n`);
        } else {
          print(opts, json, () => `${json.token}\n`);
          if (!opts.json) io.err(`admin token rotated; shown once (the gateway also wrote it to ${json.file}): store it now; the old one no longer works\n`);
        }
      },
    ),
    'heimdall-gateway admin-token rotate --data-dir /var/lib/heimdall-gateway',
  );

  // ---- budgets ----
  const budgets = program.command('budgets').description('What one device may add (docs/gateway.md "Device budgets"): message size, inventory rows, catalog items, events per minute.');
  example(
    adminCommand(budgets, 'get', 'Show the device budgets in force.').action(async (opts: TargetOptions) => {
      const json = await adminRequest<Record<string, number>>(resolveTarget(opts), 'GET', 'budgets');
      print(opts, json, () => Object.entries(json).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
    }),
    'heimdall-gateway budgets get',
  );
  example(
    adminCommand(budgets, 'set <budget> <value>', 'Change a budget: message_bytes, inventory_apps, inventory_mcp, catalog_items, events_per_minute, events_burst (a whole number).').action(
      async (key: string, value: string, opts: TargetOptions) => {
        const json = await adminRequest<Record<string, number>>(resolveTarget(opts), 'PATCH', 'budgets', { [key]: /^\d+$/.test(value) ? Number(value) : value });
        print(opts, json, () => `${key} = ${json[key]}\n`);
      },
    ),
    'heimdall-gateway budgets set events_per_minute 5000',
  );

  // ---- keys ----
  const keys = program.command('keys').description('Virtual keys (sk-bf-...): one per user, used for enrollment and inference.');
  example(
    adminCommand(keys, 'create', 'Create a virtual key for a user; the key is printed once and only its hash is kept.')
      .requiredOption('--user <email>', "the key's user")
      .option('--name <name>', 'a label')
      .action(async (opts: TargetOptions & { user: string; name?: string }) => {
        const json = await adminRequest<{ id: string; key: string; user: { email: string } }>(resolveTarget(opts), 'POST', 'keys', {
          user_email: opts.user,
          ...(opts.name ? { name: opts.name } : {}),
        });
        print(opts, json, () => `${json.key}\n`);
        if (!opts.json) io.err(`virtual key ${json.id} for ${json.user.email}; shown once: store it now\n`);
      }),
    'heimdall-gateway keys create --user alice@example.com --name "alice laptop"',
  );
  example(
    adminCommand(keys, 'list', 'List virtual keys (never the keys themselves).').action(async (opts: TargetOptions) => {
      const json = await adminRequest<{ keys: { id: string; prefix: string; user: { email: string }; name: string | null; created_at: string; last_used_at: string | null; revoked_at: string | null }[] }>(
        resolveTarget(opts),
        'GET',
        'keys',
      );
      print(opts, json, () =>
        grid(['id', fixed('key'), 'user', 'name', fixed('created'), fixed('last used'), fixed('revoked')], json.keys.map((k) => [k.id, `${k.prefix}…`, k.user.email, k.name, day(k.created_at), when(k.last_used_at), when(k.revoked_at)])),
      );
    }),
    'heimdall-gateway keys list',
  );
  example(
    adminCommand(keys, 'revoke <key_id>', 'Revoke a key: inference with it stops and its user is signed out of every device (the devices stay enrolled).').action(async (id: string, opts: TargetOptions) => {
      const json = await adminRequest(resolveTarget(opts), 'POST', `keys/${encodeURIComponent(id)}/revoke`);
      print(opts, json, () => `virtual key ${id} revoked\n`);
    }),
    'heimdall-gateway keys revoke vk_Hx3k9aZ0',
  );

  // ---- users (single sign-on) ----
  interface UserJson {
    id: string;
    email: string;
    name: string | null;
    groups: string[];
    disabled_at: string | null;
    assigned_virtual_key: string | null;
    virtual_key: string | null;
    source: string | null;
  }
  const users = program.command('users').description('People who sign in with single sign-on (docs/sso.md): their groups, the virtual key they get, disable/enable.');
  example(
    adminCommand(users, 'list', 'List people: email, name, groups, the key they get (an env.NAME reference, never a key) and why, disabled.').action(async (opts: TargetOptions) => {
      const json = await adminRequest<{ users: UserJson[] }>(resolveTarget(opts), 'GET', 'users');
      print(opts, json, () =>
        grid(['email', 'name', 'groups', 'virtual key', 'from', fixed('disabled')], json.users.map((u) => [u.email, u.name, u.groups.join(','), u.virtual_key, u.source, when(u.disabled_at)])),
      );
    }),
    'heimdall-gateway users list',
  );
  example(
    adminCommand(users, 'assign-key <user> <env_reference>', 'Give a person a virtual key of their own: an env.NAME reference set in the gateway\'s environment, or "none" to go back to the group mapping.').action(
      async (user: string, reference: string, opts: TargetOptions) => {
        const json = await adminRequest<UserJson>(resolveTarget(opts), 'PUT', `users/${encodeURIComponent(user)}/virtual-key`, { virtual_key: reference === 'none' ? null : reference });
        print(opts, json, () => `${json.email} gets ${json.virtual_key ?? 'no key'} (${json.source ?? 'none'})\n`);
      },
    ),
    'heimdall-gateway users assign-key alice@example.com env.VK_RESEARCH',
  );
  for (const [verb, disabled] of [['disable', true], ['enable', false]] as const) {
    example(
      adminCommand(users, `${verb} <user>`, disabled ? 'Disable a person: every sign-in of theirs ends now and no new one starts.' : 'Let a disabled person sign in again.').action(async (user: string, opts: TargetOptions) => {
        const json = await adminRequest<UserJson>(resolveTarget(opts), 'POST', `users/${encodeURIComponent(user)}/${verb}`);
        print(opts, json, () => `${json.email} ${disabled ? 'disabled: signed out everywhere' : 'enabled'}\n`);
      }),
      `heimdall-gateway users ${verb} alice@example.com`,
    );
  }

  // ---- ca ----
  interface CaJson {
    cert_pem: string;
    fingerprint_sha256: string;
    subject: string;
    not_after: string;
    permitted: string[];
    source: string;
  }
  const ca = program.command('ca').description('The gateway-held interception CA (agents in ca_mode gateway get leaves signed by it).');
  const describe = (c: CaJson) => `CA ${c.subject} (${c.source}), valid until ${when(c.not_after)}\npermitted: ${c.permitted.join(', ')}\nSHA-256 Fingerprint=${c.fingerprint_sha256}\n`;
  const refuseReplace = async (opts: TargetOptions & { force?: boolean }) => {
    if (opts.force) return;
    try {
      await adminRequest(resolveTarget(opts), 'GET', 'ca');
    } catch (err) {
      if (err instanceof CliError && err.message.startsWith('404')) return;
      throw err;
    }
    throw new CliError('the gateway already holds a CA; replacing it breaks every device that trusts it until the new one is deployed. Pass --force to replace it');
  };
  example(
    adminCommand(ca, 'generate', 'Generate a name-constrained CA on the gateway (the key never leaves it).')
      .option('--domain <domain...>', 'permitted domains (default: the AI hosts Heimdall intercepts)')
      .option('--common-name <cn>', 'subject CN')
      .option('--organization <o>', 'subject O')
      .option('--force', 'replace an existing CA')
      .action(async (opts: TargetOptions & { domain?: string[]; commonName?: string; organization?: string; force?: boolean }) => {
        await refuseReplace(opts);
        const json = await adminRequest<CaJson>(resolveTarget(opts), 'POST', 'ca/generate', {
          ...(opts.domain ? { domains: opts.domain } : {}),
          ...(opts.commonName ? { common_name: opts.commonName } : {}),
          ...(opts.organization ? { organization: opts.organization } : {}),
        });
        print(opts, json, () => describe(json));
      }),
    'heimdall-gateway ca generate --organization "Example Corp"',
  );
  example(
    adminCommand(ca, 'upload', 'Upload a CA certificate and key (it must carry critical nameConstraints).')
      .requiredOption('--cert <file>', 'CA certificate, PEM')
      .requiredOption('--key <file>', 'CA private key, PEM')
      .option('--force', 'replace an existing CA')
      .action(async (opts: TargetOptions & { cert: string; key: string; force?: boolean }) => {
        await refuseReplace(opts);
        const json = await adminRequest<CaJson>(resolveTarget(opts), 'PUT', 'ca', { cert_pem: readFileSync(opts.cert, 'utf8'), key_pem: readFileSync(opts.key, 'utf8') });
        print(opts, json, () => describe(json));
      }),
    'heimdall-gateway ca upload --cert corp-ai-ca.pem --key corp-ai-ca.key',
  );
  example(
    adminCommand(ca, 'export', 'Print the CA certificate (PEM) and its SHA-256 fingerprint, as an MDM trust profile needs them.')
      .option('--out <file>', 'write the PEM to this file and print only the fingerprint')
      .action(async (opts: TargetOptions & { out?: string }) => {
        const json = await adminRequest<CaJson>(resolveTarget(opts), 'GET', 'ca').catch((err: unknown) => {
          if (err instanceof CliError && err.message.startsWith('404')) {
            throw new CliError('the gateway holds no CA yet: create one with `heimdall-gateway ca generate` (or bring your own with `heimdall-gateway ca upload --cert FILE --key FILE`)');
          }
          throw err;
        });
        if (opts.json) return print(opts, json, () => '');
        if (opts.out) {
          writeFileSync(opts.out, json.cert_pem, { mode: 0o644 });
          io.out(`SHA-256 Fingerprint=${json.fingerprint_sha256}\n`);
        } else {
          io.out(`${json.cert_pem}SHA-256 Fingerprint=${json.fingerprint_sha256}\n`);
        }
      }),
    'heimdall-gateway ca export --out heimdall-ca.pem',
  );

  // ---- events ----
  const events = program.command('events').description('Audit events from agents and from the inference routes.');
  example(
    adminCommand(events, 'list', 'List events, newest first.')
      .option('--device <id>', 'only this device')
      .option('--user <email>', "only this user's: inference under their keys and their OS users' agent events, on every device")
      .option('--app <app_id>', 'only this app')
      .option('--type <type>', 'only this type (request, block, gap, inference...)')
      .option('--since <time>', 'only events at or after this RFC 3339 time')
      .option('--limit <n>', 'how many', '50')
      .option('--before <id>', 'page: events with an id below this')
      .action(async (opts: TargetOptions & { device?: string; user?: string; app?: string; type?: string; since?: string; limit: string; before?: string }) => {
        const q = new URLSearchParams({ limit: opts.limit });
        for (const k of ['device', 'user', 'app', 'type', 'since', 'before'] as const) if (opts[k] !== undefined) q.set(k, opts[k]);
        const json = await adminRequest<{ events: { id: number; at: string; source: string; type: string; device_id: string | null; app: string | null; os_user: string | null; user_email: string | null; attrs: Record<string, unknown> }[]; next_before: number | null }>(
          resolveTarget(opts),
          'GET',
          `events?${q.toString()}`,
        );
        print(opts, json, () =>
          grid(
            [fixed('id'), fixed('at'), 'type', 'app', 'device', 'user', wrapped('details')],
            json.events.map((e) => [e.id, when(e.at), e.type, e.app, e.device_id, eventUser(e), eventDetails(e.attrs)]),
          ) + (json.next_before ? `more: --before ${json.next_before}\n` : ''),
        );
      }),
    'heimdall-gateway events list --app claude-code --since 2025-01-31T00:00:00Z',
  );

  // ---- version ----
  example(
    program
      .command('version')
      .description('Print the version of this heimdall-gateway command.')
      .option('--json', 'print as JSON')
      .action((opts: { json?: boolean }) => {
        const facts = { version: VERSION, node: process.version, platform: `${process.platform}-${process.arch}` };
        io.out(opts.json ? `${JSON.stringify(facts)}\n` : `heimdall-gateway ${facts.version} (node ${facts.node}, ${facts.platform})\n`);
      }),
    'heimdall-gateway version --json',
  );

  return program;
}

/** Runs the CLI; errors a person can fix are one line on stderr and exit code 1. */
export async function runCli(argv: readonly string[], io?: Io): Promise<void> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const write = io?.err ?? ((t: string) => process.stderr.write(t));
    if (err instanceof CliError || (err instanceof Error && err.name === 'GatewayConfigError') || (err instanceof Error && err.name === 'InferenceConfigError')) {
      write(`heimdall-gateway: ${err.message}\n`);
    } else {
      write(`heimdall-gateway: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exitCode = 1;
  }
}
