// The event graph of .github/workflows, evaluated the way GitHub does it.
//
// Workflows are loaded with GitHub's own parser (@actions/workflow-parser) and every
// `if:`, `with:`, `secrets:`, `environment:` and job output is evaluated with GitHub's
// expression engine (@actions/expressions) and the contexts GitHub supplies for the
// event: `github` (under workflow_run, `ref`/`sha` name the default branch and the run
// that completed is `github.event.workflow_run`), `inputs`, `vars`, `secrets`, `needs`,
// `env`, `steps`. A run's completion emits `workflow_run` to the workflows listening for
// it (at most three levels, as GitHub allows); a `uses: ./.github/workflows/X.yml` job
// runs X with `workflow_call`; a push made with GITHUB_TOKEN starts nothing.
//
// What the expressions cannot say is modelled, and only that: whether a job succeeds
// (`outcome`), whether an environment's reviewers approve (`approve`), and the outputs of
// steps (`stepOutputs`; by default the commit a plan step resolves: REQUESTED, else the
// tip of the branch its script names). A branch moves when a step that runs
// `scripts/promote promote ... --push` runs; the token of the job's checkout decides
// whether that push starts workflows.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } from "@actions/workflow-parser";
import { Lexer, Parser, Evaluator, data } from "@actions/expressions";
import { truthy } from "@actions/expressions/result";

export const ENV_BRANCH = { dev: "dev", staging: "staging", production: "main" };
const CONTEXTS = ["github", "inputs", "vars", "secrets", "needs", "env", "steps", "job", "runner", "strategy", "matrix"];
const STATUS_FUNCTIONS = ["success", "failure", "always", "cancelled"].map((name) => ({ name, minArgs: 0, maxArgs: 0 }));
// @actions/workflow-parser 0.3.61 predates the top-level `cache-mode:` key (actionlint and
// GitHub accept it); it is removed before parsing and nothing else is touched.
const UNSUPPORTED_TOP_LEVEL = /^cache-mode:.*$/m;

/** A template token as plain data; expressions become "${{ expr }}" strings. */
export function plain(token) {
  if (token === undefined || token === null) return undefined;
  if (typeof token !== "object" || typeof token.type !== "number") return token; // already plain
  switch (token.type) {
    case 0: // string
      return token.value;
    case 1: // sequence
      return Array.from({ length: token.count }, (_, i) => plain(token.get(i)));
    case 2: { // mapping
      const out = {};
      for (let i = 0; i < token.count; i++) {
        const { key, value } = token.get(i);
        out[plain(key)] = plain(value);
      }
      return out;
    }
    case 3: // basic expression
      return "${{ " + token.expression + " }}";
    case 5: // boolean
    case 6: // number
      return token.value;
    case 7: // null
      return null;
    default:
      throw new Error(`unexpected template token type ${token.type}: ${JSON.stringify(Object.keys(token))}`);
  }
}

/** Parses every workflow file of `dir` with GitHub's parser; any parse error throws. */
export async function loadWorkflows(dir) {
  const workflows = new Map();
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    const content = readFileSync(join(dir, file), "utf8").replace(UNSUPPORTED_TOP_LEVEL, "");
    const parsed = parseWorkflow({ name: file, content }, new NoOperationTraceWriter());
    const errors = parsed.context.errors.getErrors();
    if (errors.length) throw new Error(`${file}: ${errors.map((e) => e.message).join("; ")}`);
    const template = await convertWorkflowTemplate(parsed.context, parsed.value);
    if (template.errors?.length) throw new Error(`${file}: ${template.errors.map((e) => e.Message).join("; ")}`);
    const raw = plain(parsed.value);
    workflows.set(file, { file, name: raw.name ?? file, template, raw });
  }
  return workflows;
}

function toData(value) {
  return JSON.parse(JSON.stringify(value ?? null), data.reviver);
}

function toPlain(value) {
  return JSON.parse(JSON.stringify(value, data.replacer));
}

/** Evaluates one expression (no `${{ }}`) with `contexts` and the job-status functions. */
export function evaluate(expression, contexts, status = {}) {
  const tokens = new Lexer(expression).lex().tokens;
  const ast = new Parser(tokens, CONTEXTS, STATUS_FUNCTIONS).parse();
  const functions = new Map(
    STATUS_FUNCTIONS.map((f) => [f.name, { ...f, call: () => new data.BooleanData(Boolean(status[f.name]?.())) }]),
  );
  const dict = new data.Dictionary(...CONTEXTS.map((key) => ({ key, value: toData(contexts[key] ?? {}) })));
  return new Evaluator(ast, dict, functions).evaluate();
}

/** A template token's value: literals as they are, expressions and `a ${{ b }} c` evaluated. */
function value(token, contexts, status) {
  if (token === undefined || token === null) return undefined;
  if (token.type === 3) return toPlain(evaluate(token.expression, contexts, status));
  const text = plain(token);
  if (typeof text !== "string" || !text.includes("${{")) return text;
  const whole = text.match(/^\$\{\{(.*)\}\}$/s);
  if (whole && !whole[1].includes("}}")) return toPlain(evaluate(whole[1], contexts, status));
  return text.replace(/\$\{\{(.*?)\}\}/gs, (_, expr) => String(toPlain(evaluate(expr, contexts, status)) ?? ""));
}

function values(mapping, contexts, status) {
  const out = {};
  if (!mapping) return out;
  for (let i = 0; i < mapping.count; i++) {
    const { key, value: v } = mapping.get(i);
    out[plain(key)] = value(v, contexts, status);
  }
  return out;
}

function condition(token, contexts, status) {
  if (!token) return Boolean(status.success());
  return truthy(evaluate(token.expression, contexts, status));
}

function branchMatches(filters, branch) {
  if (!filters) return true;
  return filters.some((pattern) => new RegExp("^" + pattern.replace(/\*\*/g, ".*").replace(/(?<!\.)\*/g, "[^/]*") + "$").test(branch));
}

const WRITE_SCOPES = ["contents", "packages", "id-token", "deployments", "pull-requests", "actions", "statuses", "checks", "issues"];

function permissionsOf(job, workflow) {
  const own = job.permissions ?? workflow.raw.permissions;
  if (own === undefined) return { "*": "write" }; // the repository default: assume the broad one
  if (own === "write-all") return { "*": "write" };
  if (own === "read-all") return { "*": "read" };
  return own ?? {};
}

function exceeds(inner, ceiling) {
  const level = (perms, scope) => perms[scope] ?? perms["*"] ?? "none";
  const rank = { none: 0, read: 1, write: 2 };
  return WRITE_SCOPES.filter((scope) => rank[level(inner, scope)] > rank[level(ceiling, scope)]);
}

/** The repository, its branches and the people and bots that act on it. */
export class World {
  constructor(workflows, options = {}) {
    this.workflows = workflows;
    this.repository = options.repository ?? "metricsapp/metricsapp";
    this.defaultBranch = options.defaultBranch ?? "dev";
    this.vars = options.vars ?? {};
    this.secrets = options.secrets ?? {};
    this.outcome = options.outcome ?? (() => "success");
    this.approve = options.approve ?? (() => true);
    this.protectedEnvironments = new Set(options.protectedEnvironments ?? ["production"]);
    this.tips = { ...(options.tips ?? { dev: "c0", staging: "c0", main: "c0" }) };
    this.stepOutputs = options.stepOutputs ?? defaultStepOutputs;
    this.queue = [];
    this.log = { events: [], runs: [], jobs: [], deployments: [], pushes: [], approvals: [], errors: [] };
    this.runId = 0;
  }

  /** Someone pushes `sha` to `branch` (token: "user", "app" or "GITHUB_TOKEN"). */
  push(branch, sha, token = "user") {
    this.queue.push({ name: "push", branch, sha, token });
    return this;
  }

  pullRequest({ base = "dev", headBranch, headRepository, sha = "pr1", number = 7 }) {
    this.queue.push({ name: "pull_request", base, headBranch, headRepository, sha, number });
    return this;
  }

  dispatch(file, inputs = {}, ref = this.defaultBranch) {
    this.queue.push({ name: "workflow_dispatch", file, inputs, ref });
    return this;
  }

  /** Delivers every event, and the events those runs cause, until nothing is left. */
  settle(limit = 50) {
    while (this.queue.length) {
      if (--limit < 0) assert.fail(`more than 50 events: the graph loops (${this.log.events.slice(-6).map((e) => e.name + ":" + (e.branch ?? e.run?.workflow.file)).join(", ")} ...)`);
      const event = this.queue.shift();
      this.log.events.push(event);
      if (event.name === "push") {
        this.tips[event.branch] = event.sha;
        if (event.token === "GITHUB_TOKEN") continue; // GitHub starts no workflow for these
      }
      for (const workflow of this.workflows.values()) {
        const github = this.trigger(workflow, event);
        if (github) this.start(workflow, github, event);
      }
    }
    return this.log;
  }

  /** The `github` context when `event` triggers `workflow`, or null when it does not. */
  trigger(workflow, event) {
    const on = workflow.template.events;
    const repository = { full_name: this.repository, default_branch: this.defaultBranch };
    const base = { repository: this.repository, server_url: "https://github.com", token: "GITHUB_TOKEN-value", run_attempt: "1" };
    switch (event.name) {
      case "push":
        if (!on.push || !branchMatches(on.push.branches, event.branch)) return null;
        return {
          ...base, event_name: "push", ref: `refs/heads/${event.branch}`, ref_name: event.branch, sha: event.sha,
          actor: event.token === "user" ? "alice" : "promotion-app[bot]", head_ref: "", base_ref: "",
          event: { ref: `refs/heads/${event.branch}`, after: event.sha, repository },
        };
      case "pull_request": {
        if (!on.pull_request || !branchMatches(on.pull_request.branches, event.base)) return null;
        const fork = event.headRepository !== this.repository;
        return {
          ...base, event_name: "pull_request", ref: `refs/pull/${event.number}/merge`, ref_name: `${event.number}/merge`,
          sha: `merge-${event.sha}`, actor: "mallory", head_ref: event.headBranch, base_ref: event.base,
          event: {
            number: event.number, repository,
            pull_request: {
              number: event.number,
              head: { ref: event.headBranch, sha: event.sha, repo: { full_name: event.headRepository, fork } },
              base: { ref: event.base, repo: repository },
            },
          },
          fork,
        };
      }
      case "workflow_dispatch": {
        if (event.file !== workflow.file || !on.workflow_dispatch) return null;
        const defaults = Object.fromEntries(
          Object.entries(on.workflow_dispatch.inputs ?? {}).map(([k, v]) => [k, v.default ?? (v.type === "boolean" ? false : "")]),
        );
        const inputs = { ...defaults, ...event.inputs };
        return {
          ...base, event_name: "workflow_dispatch", ref: `refs/heads/${event.ref}`, ref_name: event.ref,
          sha: this.tips[event.ref], actor: "alice", head_ref: "", base_ref: "", event: { inputs, repository }, inputs,
        };
      }
      case "workflow_run": {
        const filter = on.workflow_run;
        if (!filter || !(filter.workflows ?? []).includes(event.run.workflow.name)) return null;
        if (filter.types && !filter.types.includes("completed")) return null;
        if (!branchMatches(filter.branches, event.run.headBranch)) return null;
        if (event.depth >= 3) return null; // GitHub chains workflow_run at most three levels deep
        return {
          ...base, event_name: "workflow_run", ref: `refs/heads/${this.defaultBranch}`, ref_name: this.defaultBranch,
          sha: this.tips[this.defaultBranch], actor: event.run.github.actor, head_ref: "", base_ref: "",
          event: {
            repository,
            workflow_run: {
              name: event.run.workflow.name, conclusion: event.run.conclusion, event: event.run.github.event_name,
              head_branch: event.run.headBranch, head_sha: event.run.headSha,
              head_repository: { full_name: event.run.headRepository }, repository,
            },
          },
          depth: event.depth,
        };
      }
      default:
        throw new Error(`no such event ${event.name}`);
    }
  }

  start(workflow, github, event) {
    const run = { id: ++this.runId, workflow, github, event: event.name, jobs: [] };
    const headBranch = github.event_name === "pull_request" ? github.head_ref : github.event.workflow_run?.head_branch ?? github.ref_name;
    const headSha = github.event.workflow_run?.head_sha ?? github.event.pull_request?.head.sha ?? github.sha;
    Object.assign(run, {
      headBranch, headSha,
      headRepository: github.event.pull_request?.head.repo.full_name ?? github.event.workflow_run?.head_repository.full_name ?? this.repository,
    });
    const secrets = github.fork ? {} : this.secrets; // GitHub gives a fork's pull request no secrets
    let failed;
    try {
      failed = this.runJobs(workflow, { github, inputs: github.inputs ?? {}, secrets }, [workflow.file], run, null);
    } catch (err) {
      this.log.errors.push(`${workflow.file}: ${err.message}`);
      failed = true;
    }
    run.conclusion = failed ? "failure" : "success";
    this.log.runs.push(run);
    this.queue.push({ name: "workflow_run", run, depth: (github.depth ?? 0) + 1 });
  }

  /** Runs a workflow's jobs in `needs` order; true when one of them failed. */
  runJobs(workflow, { github, inputs, secrets }, path, run, ceiling) {
    const jobs = workflow.template.jobs;
    const results = {};
    const pending = [...jobs];
    let failed = false;
    while (pending.length) {
      const index = pending.findIndex((job) => (job.needs ?? []).every((n) => results[n.value]));
      if (index < 0) throw new Error(`${workflow.file}: a needs cycle`);
      const [job] = pending.splice(index, 1);
      const id = job.id.value;
      const rawJob = workflow.raw.jobs[id];
      const needs = Object.fromEntries((job.needs ?? []).map((n) => [n.value, results[n.value]]));
      const status = {
        success: () => Object.values(needs).every((n) => n.result === "success"),
        failure: () => Object.values(needs).some((n) => n.result === "failure"),
        always: () => true,
        cancelled: () => false,
      };
      const contexts = { github, inputs, vars: this.vars, needs, secrets };
      const permissions = permissionsOf(rawJob, workflow);
      const record = { run: run.id, workflow: workflow.file, job: id, path: [...path, id].join(" > "), permissions, result: "skipped" };
      results[id] = { result: "skipped", outputs: {} };
      if (!condition(job.if, contexts, status)) {
        this.log.jobs.push(record);
        continue;
      }
      if (ceiling) {
        const over = exceeds(permissions, ceiling);
        if (over.length) throw new Error(`${record.path} asks for ${over.join(", ")} beyond what its caller granted`);
      }
      if (job.type === "reusableWorkflowJob") {
        const target = job.ref.value.replace(/^\.\/\.github\/workflows\//, "");
        const called = this.workflows.get(target);
        if (!called) throw new Error(`${record.path}: no workflow ${job.ref.value}`);
        const call = called.template.events.workflow_call;
        if (!call) throw new Error(`${record.path}: ${target} has no workflow_call trigger`);
        if (job["inherit-secrets"]) throw new Error(`${record.path}: secrets: inherit (pass secrets explicitly)`);
        const given = values(job["input-values"], contexts, status);
        const calledInputs = {};
        for (const [name, def] of Object.entries(call.inputs ?? {})) {
          if (name in given) calledInputs[name] = given[name];
          else if (def.required) throw new Error(`${record.path}: required input ${name} of ${target} not given`);
          else calledInputs[name] = plain(def.default) ?? (def.type === "boolean" ? false : "");
        }
        for (const name of Object.keys(given)) {
          if (!(name in (call.inputs ?? {}))) throw new Error(`${record.path}: ${target} has no input ${name}`);
        }
        const passed = values(job["secret-values"], contexts, status);
        for (const name of Object.keys(passed)) {
          if (!(name in (call.secrets ?? {}))) throw new Error(`${record.path}: ${target} declares no secret ${name}`);
        }
        record.inputs = calledInputs;
        record.result = "success";
        this.log.jobs.push(record);
        const innerFailed = this.runJobs(called, { github, inputs: calledInputs, secrets: passed }, [...path, id], run, permissions);
        record.result = innerFailed ? "failure" : "success";
      } else {
        this.runJob(workflow, job, rawJob, { ...contexts, status }, record);
        this.log.jobs.push(record);
      }
      results[id] = { result: record.result, outputs: record.outputs ?? {} };
      if (record.result === "failure") failed = true;
      run.jobs.push(record);
    }
    return failed;
  }

  runJob(workflow, job, rawJob, { status, ...contexts }, record) {
    let environmentToken = job.environment;
    if (environmentToken?.type === 2) {
      environmentToken = Array.from({ length: environmentToken.count }, (_, i) => environmentToken.get(i)).find((p) => plain(p.key) === "name")?.value;
    }
    const environment = environmentToken ? value(environmentToken, contexts, status) : undefined;
    const env = { ...values(workflow.template.env, contexts, status), ...values(job.env, contexts, status) };
    record.environment = environment;
    if (environment && this.protectedEnvironments.has(environment)) {
      const approved = this.approve(environment, { ...record, inputs: contexts.inputs });
      this.log.approvals.push({ environment, approved, path: record.path, commit: contexts.inputs.commit });
      if (!approved) {
        record.result = "failure";
        return;
      }
    }
    const outcome = this.outcome({ ...record, inputs: contexts.inputs, github: contexts.github });
    const steps = {};
    let checkoutToken = contexts.github.token;
    const stepStatus = { success: () => true, failure: () => false, always: () => true, cancelled: () => false };
    const failedStatus = { success: () => false, failure: () => true, always: () => true, cancelled: () => false };
    const stepsRaw = rawJob.steps ?? [];
    const run = (which) =>
      job.steps.forEach((step, i) => {
        const stepEnv = { ...env, ...values(step.env, { ...contexts, env, steps }, which) };
        const ctx = { ...contexts, env: stepEnv, steps };
        if (!condition(step.if, ctx, which)) return;
        const raw = stepsRaw[i] ?? {};
        if (raw.uses?.startsWith("actions/create-github-app-token@")) steps[step.id] = { outputs: { token: "app-token-value" }, outcome: "success" };
        else if (step.id && !step.id.startsWith("__")) steps[step.id] = { outputs: this.stepOutputs({ workflow, job: record.job, step: raw, env: stepEnv, tips: this.tips }), outcome: "success" };
        if (raw.uses?.startsWith("actions/checkout@")) {
          const token = raw.with?.token;
          checkoutToken = token === undefined ? contexts.github.token : value({ type: 0, value: token }, ctx, which);
        }
        const script = typeof raw.run === "string" ? raw.run : "";
        if (/scripts\/promote promote\b[^\n]*--push/.test(script)) {
          const to = script.match(/--to\s+"?\$\{?(\w+)\}?"?/);
          const target = to ? stepEnv[to[1]] : undefined;
          const commit = stepEnv.COMMIT ?? contexts.inputs.commit;
          this.log.pushes.push({ branch: ENV_BRANCH[target], commit, token: checkoutToken === contexts.github.token ? "GITHUB_TOKEN" : "app", path: record.path });
          this.queue.push({ name: "push", branch: ENV_BRANCH[target], sha: commit, token: checkoutToken === contexts.github.token ? "GITHUB_TOKEN" : "app" });
        }
      });
    run(stepStatus);
    if (outcome === "failure") run(failedStatus);
    record.result = outcome;
    record.outputs = values(job.outputs, { ...contexts, env, steps }, status);
    if (environment) {
      this.log.deployments.push({ environment, commit: contexts.inputs.commit ?? env.COMMIT, result: outcome, path: record.path });
    }
  }
}

/** A step's `commit` output: for a plan step the commit it was asked for, else the branch
 * tip its script falls back to; for a rollback the commit asked for (resolve-rollback
 * prints it as given, checked). */
export function defaultStepOutputs({ step, env, tips }) {
  const script = typeof step.run === "string" ? step.run : "";
  if (/scripts\/promote resolve-rollback/.test(script)) return { commit: env.COMMIT };
  const fallback = script.match(/\$\{REQUESTED:-origin\/([\w-]+)\}/);
  if (!fallback) return {};
  return { commit: env.REQUESTED || tips[fallback[1]] };
}
