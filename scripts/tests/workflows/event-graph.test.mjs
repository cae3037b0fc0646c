// What GitHub runs for each event, evaluated over the real .github/workflows.
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { scenarios } from "./scenarios.mjs";

const WORKFLOWS = fileURLToPath(new URL("../../../.github/workflows/", import.meta.url));

for (const [name, check] of Object.entries(scenarios)) {
  test(name, () => check(WORKFLOWS));
}
