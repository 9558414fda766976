// The app ids are a contract between the agent's catalog and the gateway: each listed id has a catalog
// row (the other direction is the catalog row's type), and the gateway accepts exactly these by name.
import { describe, expect, it } from 'vitest';
import { APP_CATALOG } from '../../agent/src/identify/index.ts';
import { BUILT_IN_APP_IDS } from '../../gateway/src/control/catalog-ids.ts';
import { KNOWN_APP_IDS } from '../../protocol/index.ts';

describe('known app ids', () => {
  it('are exactly the ids of the agent catalog rows, each once', () => {
    expect([...APP_CATALOG.map((a) => a.id)].sort()).toEqual([...KNOWN_APP_IDS].sort());
    expect(new Set(KNOWN_APP_IDS).size).toBe(KNOWN_APP_IDS.length);
  });

  it('are what the gateway accepts by name before any agent reported them', () => {
    expect(BUILT_IN_APP_IDS).toEqual(KNOWN_APP_IDS);
  });
});
