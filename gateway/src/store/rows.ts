// Row shapes of the gateway's tables and their mapping to records: the same on SQLite and on
// PostgreSQL, which keep the same tables and columns (sqlite/*.ts and postgres/*.ts), so one copy serves both.
import type { CatalogStatus } from '../../../protocol/index.ts';
import type { CatalogKind, ConsoleSessionRecord, DeviceRecord, RefreshFamilyRecord, VirtualKeyRecord } from './types.ts';

export interface KeyRow {
  id: string;
  user_id: string;
  email: string;
  name: string | null;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

export const toKey = (r: KeyRow): VirtualKeyRecord => ({
  id: r.id,
  userId: r.user_id,
  userEmail: r.email,
  name: r.name,
  prefix: r.prefix,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

export const KEY_SELECT = 'SELECT k.id, k.user_id, u.email, k.name, k.prefix, k.created_at, k.revoked_at, k.last_used_at FROM virtual_keys k JOIN users u ON u.id = k.user_id';

export interface EventRow {
  id: number;
  source: 'agent' | 'gateway';
  device_id: string | null;
  seq: number | null;
  type: string;
  at: string;
  app: string | null;
  os_user: string | null;
  user_id: string | null;
  attrs: string;
  received_at: string;
}

export interface DeviceRow {
  id: string;
  owner_user_id: string;
  email: string;
  hostname: string;
  os: string;
  os_version: string | null;
  arch: string | null;
  agent_version: string | null;
  reported_users: string;
  enrolled_at: string;
  last_seen_at: string | null;
  revoked_at: string | null;
  public_key: string | null;
}

export const toDevice = (r: DeviceRow): DeviceRecord => ({
  id: r.id,
  ownerUserId: r.owner_user_id,
  ownerEmail: r.email,
  hostname: r.hostname,
  os: r.os,
  osVersion: r.os_version,
  arch: r.arch,
  agentVersion: r.agent_version,
  reportedUsers: JSON.parse(r.reported_users) as DeviceRecord['reportedUsers'],
  enrolledAt: r.enrolled_at,
  lastSeenAt: r.last_seen_at,
  revokedAt: r.revoked_at,
  publicKey: r.public_key,
});

export const DEVICE_SELECT = 'SELECT d.*, u.email FROM devices d JOIN users u ON u.id = d.owner_user_id';

export interface CatalogRow {
  kind: CatalogKind;
  id: string;
  display_name: string | null;
  status: CatalogStatus;
  app: string | null;
  transport: string | null;
  first_seen_at: string;
  last_seen_at: string;
  decided_at: string | null;
  fleet_count: number;
}

export const CATALOG_SELECT = `SELECT c.*, (SELECT COUNT(DISTINCT s.device_id) FROM catalog_sightings s WHERE s.kind = c.kind AND s.item_id = c.id) AS fleet_count
  FROM catalog_items c`;

export interface FamilyRow {
  id: string;
  user_id: string;
  device_id: string;
  os_user: string;
  created_at: string;
  last_used_at: string;
  absolute_expires_at: string;
  revoked_at: string | null;
  revoked_reason: string | null;
}

export const toFamily = (r: FamilyRow): RefreshFamilyRecord => ({
  id: r.id,
  userId: r.user_id,
  deviceId: r.device_id,
  osUser: r.os_user,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  absoluteExpiresAt: r.absolute_expires_at,
  revokedAt: r.revoked_at,
  revokedReason: r.revoked_reason,
});

export interface UserRow {
  id: string;
  email: string;
  name: string | null;
  created_at: string;
  disabled_at: string | null;
  assigned_virtual_key: string | null;
  groups_json: string | null;
  issuer: string | null;
}

export interface ConsoleSessionRow {
  id_hash: string;
  method: 'admin_token' | 'sso';
  user_id: string | null;
  admin_json: string;
  csrf_token: string;
  created_at: number;
  last_seen_at: number;
  flash_json: string | null;
}

export const toConsoleSession = (r: ConsoleSessionRow): ConsoleSessionRecord => ({
  idHash: r.id_hash,
  method: r.method,
  userId: r.user_id,
  adminJson: r.admin_json,
  csrfToken: r.csrf_token,
  createdAt: Number(r.created_at),
  lastSeenAt: Number(r.last_seen_at),
  flashJson: r.flash_json,
});
