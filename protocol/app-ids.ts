// The apps every agent identifies by name (the agent's catalog, agent/src/identify/catalog.ts). The
// gateway accepts decisions for them before any agent has reported them, and refuses other ids that no
// agent reported. Part of the contract: an id is never renamed once shipped, and the agent's catalog
// rows can only use ids listed here (a wrong row is a compile error; test/protocol/app-ids.test.ts
// checks the list has no id without a row).
export const KNOWN_APP_IDS = [
  'claude-code', 'claude-desktop', 'codex-cli', 'codex-desktop', 'gemini-cli', 'cursor', 'vscode', 'windsurf', 'opencode',
  'chatgpt-desktop', 'edge', 'chrome', 'firefox', 'safari', 'curl',
] as const;

export type KnownAppId = (typeof KNOWN_APP_IDS)[number];
