// Lint rules: typescript-eslint's type-aware recommended set, plus the habits in the style guide
// (../shared/STYLE.md) that a machine can check: no floating promises in a daemon, no unused code, and
// rooms entered only through their door.
import { readdirSync } from 'node:fs';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/**
 * "One folder per room, entered only through its index.ts" (STYLE.md, Rooms and doors). For each room
 * of the agent and the gateway, an import that climbs out of the room (`../`) and names a file of
 * another room other than its index.ts fails. Exempt, and why: `agent/src/lib/` is a shelf of small
 * independent modules (logger, clock, private-fs, ...) with no state of their own, each its own door;
 * tests, benchmarks and scripts build one room's inner parts with real parts around them, as the style
 * guide asks, so they may reach inside. The gateway never imports the agent's code at all.
 */
function roomDoors(base, exempt = []) {
  const rooms = readdirSync(new URL(base, import.meta.url), { withFileTypes: true })
    .filter((d) => d.isDirectory() && !exempt.includes(d.name))
    .map((d) => d.name);
  return rooms.map((room) => ({
    files: [`${base}${room}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          {
            // One or two levels up, lib/ is the agent's shelf (exempt); the top-level lib/ is further up, a room.
            regex: `^(?!${base === 'agent/src/' ? '(?:\\.\\./){1,2}lib/' : '$^'})(?:\\.\\./)+(?!${room}/)[\\w-]+/(?:[\\w.-]+/)*(?!index\\.ts$)[\\w.-]+\\.ts$`,
            message: `Enter another room through its index.ts (../shared/STYLE.md, Rooms and doors); ${base}${room}/ may not import another room's inner file.`,
          },
          ...(base.startsWith('gateway/') ? [{ regex: '(?:^|/)agent/src/', message: 'The gateway does not import the agent: shared contracts live in protocol/.' }] : []),
        ],
      }],
    },
  }));
}

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', 'dist/', 'coverage/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'bin/*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      'no-console': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  ...roomDoors('agent/src/', ['lib']),
  ...roomDoors('gateway/src/'),
  ...roomDoors('protocol/'),
  ...roomDoors('lib/'),
);
