// Lint configuration (flat config), run by `npm run lint` and `npm test`.
// Type-aware: typescript-eslint reads tsconfig.json through its project service, so rules such as
// no-floating-promises know which expressions are promises. Formatting is prettier's job, not eslint's.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", ".cache/", ".podfleet/", "dist/", "transcripts/", ".tmp/"] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ["*.js", "bin/*.js"] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Background promises are where queue code goes wrong: every promise is awaited, returned, or
      // marked `void` where fire-and-forget is intended and its errors are handled.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          // node:test's test()/describe() return promises the runner itself awaits.
          allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "describe", "it", "suite"] }],
        },
      ],
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_" }],
      // An abort signal's reason and a caught error are `unknown`: passing them on as they are is fine.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingAny: true, allowThrowingUnknown: true }],
    },
  },
  {
    // Tests read JSON bodies (`await res.json()` is `any`, and so is `api()`'s default) and check them
    // with node:assert; typing every body before asserting on it adds noise, not safety.
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      // test doubles implement async interfaces without awaiting anything
      "@typescript-eslint/require-await": "off",
    },
  },
  {
    files: ["**/*.js"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
  {
    // The dashboard's browser script: plain JavaScript outside the TypeScript project, so no type
    // information; browser globals are not declared here, so no-undef is off as for TypeScript.
    files: ["orchestrator/dashboard/assets/**/*.js"],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { parserOptions: { projectService: false } },
    rules: { "no-undef": "off" },
  },
);
