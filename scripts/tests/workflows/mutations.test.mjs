// Each scenario can fail: a copy of the workflows with one known-bad edit must make the
// scenario that guards against it fail. An edit that no longer applies fails too, so a
// mutation cannot silently stop testing anything.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { scenarios } from "./scenarios.mjs";

const WORKFLOWS = fileURLToPath(new URL("../../../.github/workflows/", import.meta.url));

const MUTATIONS = [
  {
    name: "deploy-dev back on github.ref (always the default branch under workflow_run)",
    file: "build.yml",
    from: "if: github.event.workflow_run.head_branch == 'dev'",
    to: "if: github.ref == 'refs/heads/dev'",
    breaks: "CI passing on staging (a hotfix pushed there) records its build and deploys nothing, dev least of all",
  },
  {
    name: "the same, seen from main",
    file: "build.yml",
    from: "if: github.event.workflow_run.head_branch == 'dev'",
    to: "if: github.ref == 'refs/heads/dev'",
    breaks: "CI passing on main (a hotfix pushed there) records its build and deploys nothing, dev least of all",
  },
  {
    name: "the promote call dropped from build.yml",
    file: "build.yml",
    from: /\n  promote:\n[\s\S]*$/,
    to: "\n",
    breaks: "a push to dev that passes CI reaches production through dev and staging, with only the approval by hand",
  },
  {
    name: "promote no longer waits for dev's deployment",
    file: "build.yml",
    from: "needs: [build, deploy-dev]",
    to: "needs: build",
    breaks: "a failed rollout on dev (RolledBack, RolloutFailed or timeout) stops the promotion",
  },
  {
    name: "build no longer checks that CI ran for a push of this repository",
    file: "build.yml",
    from: /github\.event\.workflow_run\.conclusion == 'success'\n\s+&& github\.event\.workflow_run\.event == 'push'\n\s+&& github\.event\.workflow_run\.head_repository\.full_name == github\.repository/,
    to: "github.event.workflow_run.conclusion == 'success'",
    breaks: "a fork's pull request from a branch named dev builds and deploys nothing and no job gets a write token",
  },
  {
    name: "build no longer checks that CI passed",
    file: "build.yml",
    from: "github.event.workflow_run.conclusion == 'success'\n",
    to: "true\n",
    breaks: "CI failing on dev builds and deploys nothing",
  },
  {
    name: "production planned even when staging failed",
    file: "promote.yml",
    from: /if: >-\n\s+!cancelled\(\)\n\s+&& \(needs\.deploy-staging\.result == 'success'\n\s+\|\| \(inputs\.to == 'production' && needs\.deploy-staging\.result == 'skipped'\)\)/,
    to: "if: ${{ !cancelled() }}",
    breaks: "a failed rollout on staging stops the promotion before production",
  },
  {
    name: "deploy without its GitHub Environment (no reviewers for production)",
    file: "deploy.yml",
    from: "    environment: ${{ inputs.environment }}\n",
    to: "",
    breaks: "a manual rollback of production redeploys the earlier commit behind the approval and moves no branch",
  },
  {
    name: "secrets: inherit in place of the one secret deploy needs",
    file: "build.yml",
    from: "    secrets:\n      PROMOTION_APP_PRIVATE_KEY: ${{ secrets.PROMOTION_APP_PRIVATE_KEY }}\n    permissions:\n      contents: write\n      id-token: write\n\n  promote:",
    to: "    secrets: inherit\n    permissions:\n      contents: write\n      id-token: write\n\n  promote:",
    breaks: "a push to dev that passes CI reaches production through dev and staging, with only the approval by hand",
  },
  {
    name: "the promotion call granted less than deploy needs",
    file: "build.yml",
    from: "      to: staging\n      commit: ${{ needs.build.outputs.commit }}\n    secrets:\n      PROMOTION_APP_PRIVATE_KEY: ${{ secrets.PROMOTION_APP_PRIVATE_KEY }}\n    permissions:\n      contents: write\n      id-token: write",
    to: "      to: staging\n      commit: ${{ needs.build.outputs.commit }}\n    secrets:\n      PROMOTION_APP_PRIVATE_KEY: ${{ secrets.PROMOTION_APP_PRIVATE_KEY }}\n    permissions:\n      contents: read",
    breaks: "a push to dev that passes CI reaches production through dev and staging, with only the approval by hand",
  },
  {
    name: "staging deployed without moving its branch",
    file: "promote.yml",
    from: "      environment: staging\n      commit: ${{ needs.plan-staging.outputs.commit }}\n      promote: true",
    to: "      environment: staging\n      commit: ${{ needs.plan-staging.outputs.commit }}\n      promote: false",
    breaks: "a push to dev that passes CI reaches production through dev and staging, with only the approval by hand",
  },
  {
    name: "CI also runs on pushes made by the promotion to any branch, and Build deploys dev for them",
    file: "build.yml",
    from: "if: github.event.workflow_run.head_branch == 'dev'",
    to: "if: github.event.workflow_run.head_branch != 'feature'",
    breaks: "promotions pushed with the App token start CI on staging and main, which deploys nothing more",
  },
];

function mutate(mutation) {
  const dir = mkdtempSync(join(tmpdir(), "workflows-mutant-"));
  cpSync(WORKFLOWS, dir, { recursive: true });
  const path = join(dir, mutation.file);
  const before = readFileSync(path, "utf8");
  const after = before.replace(mutation.from, mutation.to);
  assert.notEqual(after, before, `the mutation "${mutation.name}" no longer applies to ${mutation.file}: update it`);
  writeFileSync(path, after);
  return dir;
}

for (const mutation of MUTATIONS) {
  test(`mutant caught: ${mutation.name}`, async () => {
    assert.ok(scenarios[mutation.breaks], `no scenario "${mutation.breaks}"`);
    await scenarios[mutation.breaks](WORKFLOWS); // passes on the real workflows...
    const dir = mutate(mutation);
    try {
      await assert.rejects(scenarios[mutation.breaks](dir), assert.AssertionError); // ...and fails on the mutant
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
