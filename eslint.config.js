import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { importX, createNodeResolver } from "eslint-plugin-import-x";

/**
 * Imports run one way only (docs/ARCHITECTURE.md): each zone below names a
 * folder and the folders above it that it must not import from.
 *   core ← store, firewall ← platform ← ops ← cli, demo
 * The rule resolves every import to a file, so `../x.js` and `./x.js`
 * spellings are judged by where the file really is.
 */
const ABOVE = {
  core: ["store", "firewall", "platform", "ops", "cli", "demo"],
  store: ["firewall", "platform", "ops", "cli", "demo"],
  firewall: ["store", "platform", "ops", "cli", "demo"],
  platform: ["ops", "cli", "demo"],
  ops: ["cli", "demo"],
};
const LANGUAGES = ["ipf", "pf", "ipfw", "nft"];
const importDirection = [
  ...Object.entries(ABOVE).map(([target, from]) => ({
    target: `./src/${target}`,
    from: from.map((f) => `./src/${f}`),
    message: `src/${target} imports only from the layers below it (core ← store, firewall ← platform ← ops ← cli); see docs/ARCHITECTURE.md.`,
  })),
  // one module per rule language: a language never reaches into another
  ...LANGUAGES.map((lang) => ({
    target: `./src/firewall/${lang}`,
    from: LANGUAGES.filter((l) => l !== lang).map((l) => `./src/firewall/${l}`),
    message: "A rule language module imports only core and the shared firewall helpers.",
  })),
];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Commands write to ctx.stdout/ctx.stderr so tests can capture them (docs/ARCHITECTURE.md).
      "no-console": ["error"],
    },
  },
  {
    files: ["src/**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/resolver-next": [createNodeResolver({ extensionAlias: { ".js": [".ts", ".js"] } })],
    },
    rules: {
      "import-x/no-restricted-paths": ["error", { zones: importDirection }],
    },
  },
  {
    files: ["scripts/**", "bench/**", "bin/**", "test/**"],
    rules: { "no-console": "off" },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
  {
    // bin/package.json makes bin/ CommonJS (an ES module entry costs node's ESM loader on every start)
    files: ["bin/**/*.js"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { require: "readonly", __dirname: "readonly", module: "writable" },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
