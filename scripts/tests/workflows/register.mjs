// Loader hooks for the workflow tests (node --import ./register.mjs --test ...):
// - @actions/* resolve from .tools/workflow-parser, where scripts/lib.sh installs them
//   (ES modules ignore NODE_PATH);
// - Node 20 cannot import a JSON file without an import attribute, and
//   @actions/workflow-parser imports its workflow schema that way: .json files are
//   served as ES modules exporting their content.
import { register } from "node:module";
import { pathToFileURL } from "node:url";

const tools = new URL("../../../.tools/workflow-parser/package.json", import.meta.url);

register(
  "data:text/javascript," +
    encodeURIComponent(`
import { readFile } from "node:fs/promises";
const tools = ${JSON.stringify(process.env.WORKFLOW_PARSER_DIR ? pathToFileURL(process.env.WORKFLOW_PARSER_DIR + "/package.json").href : tools.href)};
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (err.code !== "ERR_MODULE_NOT_FOUND" || !specifier.startsWith("@actions/")) throw err;
    return next(specifier, { ...context, parentURL: tools });
  }
}
export async function load(url, context, next) {
  if (url.endsWith(".json")) {
    const text = await readFile(new URL(url), "utf8");
    return { format: "module", source: "export default " + text + ";", shortCircuit: true };
  }
  return next(url, context);
}
`),
);
