// The promotion chain's scenarios, each a check of what GitHub would run for one event.
// Each takes a workflows directory, so the mutation tests can run the same check on a
// broken copy and show that it fails.
import assert from "node:assert/strict";
import { loadWorkflows, World } from "./graph.mjs";

const APP = { PROMOTION_APP_CLIENT_ID: "Iv1.promotion" };
const SECRETS = { PROMOTION_APP_PRIVATE_KEY: "-----BEGIN KEY-----" };

async function world(dir, options = {}) {
  return new World(await loadWorkflows(dir), { secrets: SECRETS, ...options });
}

const deployed = (log) => log.deployments.map((d) => `${d.environment}@${d.commit}:${d.result}`);
const ran = (log) => log.jobs.filter((j) => j.result !== "skipped").map((j) => j.path);

function noErrors(log) {
  assert.deepEqual(log.errors, [], "the workflows could not run as GitHub would run them");
}

function nothingDeployedAndNoWriteToken(log) {
  noErrors(log);
  assert.deepEqual(deployed(log), [], "nothing may deploy");
  const writers = log.jobs
    .filter((j) => j.result !== "skipped")
    .filter((j) => Object.entries(j.permissions).some(([, level]) => level === "write"))
    .map((j) => j.path);
  assert.deepEqual(writers, [], "no job that runs may get a write token");
  assert.deepEqual(log.approvals, []);
}

export const scenarios = {
  /** push to dev: build once, then dev, staging and production (after the approval), the same commit. */
  async "a push to dev that passes CI reaches production through dev and staging, with only the approval by hand"(dir) {
    const log = (await world(dir)).push("dev", "c1").settle();
    noErrors(log);
    assert.deepEqual(deployed(log), ["dev@c1:success", "staging@c1:success", "production@c1:success"]);
    assert.deepEqual(
      log.deployments.map((d) => d.path),
      ["build.yml > deploy-dev > deploy", "build.yml > promote > deploy-staging > deploy", "build.yml > promote > deploy-production > deploy"],
    );
    assert.equal(log.jobs.filter((j) => j.path === "build.yml > build" && j.result === "success").length, 1, "built exactly once");
    assert.deepEqual(log.approvals.map((a) => `${a.environment}@${a.commit}`), ["production@c1"], "production waits for its reviewers");
    assert.deepEqual(log.events.filter((e) => e.name !== "workflow_run").map((e) => `${e.name}:${e.branch}`),
      ["push:dev", "push:staging", "push:main"], "no manual dispatch: the only events are the push and the promotions");
    assert.deepEqual(log.pushes.map((p) => `${p.branch}@${p.commit}:${p.token}`), ["staging@c1:GITHUB_TOKEN", "main@c1:GITHUB_TOKEN"]);
    // GITHUB_TOKEN pushes start nothing: CI ran once, for dev.
    assert.deepEqual(log.runs.filter((r) => r.workflow.file === "ci.yml").map((r) => r.headBranch), ["dev"]);
  },

  /** With the promotion App, promotions start CI on staging and main: that must deploy nothing more. */
  async "promotions pushed with the App token start CI on staging and main, which deploys nothing more"(dir) {
    const log = (await world(dir, { vars: APP })).push("dev", "c1").settle();
    noErrors(log);
    assert.deepEqual(log.pushes.map((p) => `${p.branch}:${p.token}`), ["staging:app", "main:app"]);
    assert.deepEqual(log.runs.filter((r) => r.workflow.file === "ci.yml").map((r) => r.headBranch), ["dev", "staging", "main"]);
    assert.deepEqual(deployed(log), ["dev@c1:success", "staging@c1:success", "production@c1:success"]);
  },

  async "CI failing on dev builds and deploys nothing"(dir) {
    const outcome = (job) => (job.workflow === "ci.yml" && job.job === "test" ? "failure" : "success");
    const log = (await world(dir, { outcome })).push("dev", "c1").settle();
    noErrors(log);
    assert.deepEqual(deployed(log), []);
    assert.ok(!ran(log).includes("build.yml > build"), "an untested commit is never built");
  },

  async "CI passing on staging (a hotfix pushed there) records its build and deploys nothing, dev least of all"(dir) {
    const log = (await world(dir)).push("staging", "hotfix").settle();
    noErrors(log);
    assert.ok(ran(log).includes("build.yml > build"), "the hotfix gets its digests recorded");
    assert.deepEqual(deployed(log), []);
  },

  async "CI passing on main (a hotfix pushed there) records its build and deploys nothing, dev least of all"(dir) {
    const log = (await world(dir)).push("main", "hotfix").settle();
    noErrors(log);
    assert.ok(ran(log).includes("build.yml > build"), "the hotfix gets its digests recorded");
    assert.deepEqual(deployed(log), []);
  },

  async "a fork's pull request builds and deploys nothing and no job gets a write token"(dir) {
    const log = (await world(dir)).pullRequest({ headBranch: "feature", headRepository: "mallory/metricsapp" }).settle();
    nothingDeployedAndNoWriteToken(log);
    assert.ok(ran(log).includes("ci.yml > test"), "CI itself runs for the pull request");
  },

  async "a fork's pull request from a branch named dev builds and deploys nothing and no job gets a write token"(dir) {
    const log = (await world(dir)).pullRequest({ headBranch: "dev", headRepository: "mallory/metricsapp" }).settle();
    nothingDeployedAndNoWriteToken(log);
    assert.ok(!ran(log).includes("build.yml > build"));
  },

  async "a manual rollback of production redeploys the earlier commit behind the approval and moves no branch"(dir) {
    const log = (await world(dir)).dispatch("rollback.yml", { environment: "production", commit: "c0" }).settle();
    noErrors(log);
    assert.deepEqual(deployed(log), ["production@c0:success"]);
    assert.deepEqual(log.deployments.map((d) => d.path), ["rollback.yml > deploy > deploy"]);
    assert.deepEqual(log.approvals.map((a) => a.environment), ["production"]);
    assert.deepEqual(log.pushes, []);
  },

  async "a failed rollout on dev (RolledBack, RolloutFailed or timeout) stops the promotion"(dir) {
    const outcome = (job) => (job.environment === "dev" ? "failure" : "success");
    const log = (await world(dir, { outcome })).push("dev", "c1").settle();
    noErrors(log);
    assert.deepEqual(deployed(log), ["dev@c1:failure"]);
    assert.deepEqual(log.pushes, [], "staging never moves to a commit dev did not verify");
  },

  async "a failed rollout on staging stops the promotion before production"(dir) {
    const outcome = (job) => (job.environment === "staging" ? "failure" : "success");
    const log = (await world(dir, { outcome })).push("dev", "c1").settle();
    noErrors(log);
    assert.deepEqual(deployed(log), ["dev@c1:success", "staging@c1:failure"]);
    assert.deepEqual(log.approvals, [], "production is not even offered");
    assert.deepEqual(log.pushes.map((p) => p.branch), ["staging"]);
  },

  async "production's reviewers saying no leaves main where it was"(dir) {
    const log = (await world(dir, { approve: () => false })).push("dev", "c1").settle();
    noErrors(log);
    assert.deepEqual(deployed(log), ["dev@c1:success", "staging@c1:success"]);
    assert.deepEqual(log.pushes.map((p) => p.branch), ["staging"]);
  },
};
