// The control plane room: catalogs, decisions, settings, devices, keys, CA, and the policy snapshots.
export { ControlPlane, APPROVAL_REQUESTED_EVENT, type ApprovalQueueItem, type ControlEvent, type ControlPlaneOptions, type InferenceDevice, type IngestOutcome, type SettingsPatch, type VirtualKeyIdentity } from './control-plane.ts';
export { ControlError, type ControlErrorCode } from './errors.ts';
export { effectiveStatus, buildSnapshot } from './policy.ts';
export { DEFAULT_PERMITTED_DOMAINS, GATEWAY_LEAF_VALIDITY_DAYS, type CaInfo, type LeafResult } from './ca.ts';
export { bearerToken, hashSecret, newAdminToken, secretsEqual, VIRTUAL_KEY_PREFIX, DEVICE_TOKEN_PREFIX, ADMIN_TOKEN_PREFIX } from './secrets.ts';
export { overBudget, type OverBudget } from './budgets.ts';
