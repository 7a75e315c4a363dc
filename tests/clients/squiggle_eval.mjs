// Evaluate a Squiggle file with the real interpreter (@quri/squiggle-lang) at its default settings
// and print chosen variables as JSON on stdout.
//
// Usage: node squiggle_eval.mjs PREFIX FILE NAME...
//   PREFIX  the folder npm installed @quri/squiggle-lang into (`npm install --prefix PREFIX ...`;
//           `make test` uses .venv/squiggle)
//   FILE    Squiggle code, e.g. an exported squiggle.txt
//   NAME    variables to print
//
// Output: {"sampleCount": <the default environment's>, "variables": {NAME: VALUE}} where VALUE is
// {"type": "Number", "value": x} for a number, or for a distribution
// {"type": "Dist", "tag": "SampleSet" | "Symbolic" | "PointSet", "quantiles": [q05, q50, q95],
//  "samples": [...]} (samples for a sample set only, in Squiggle's order).
// Exit status 1, with the messages on stderr, when the code does not evaluate or a NAME is missing.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [prefix, file, ...names] = process.argv.slice(2);
if (!prefix || !file) {
  console.error("usage: node squiggle_eval.mjs PREFIX FILE NAME...");
  process.exit(2);
}
// Resolve the package as code living in PREFIX would, then load its ES module entry point.
const entry = createRequire(join(resolve(prefix), "resolve-from-here.js")).resolve("@quri/squiggle-lang");
const { run, defaultEnvironment } = await import(pathToFileURL(entry).href);

const output = await run(readFileSync(file, "utf8"), { environment: defaultEnvironment });
if (!output.result.ok) {
  console.error(output.result.value.toStringWithDetails());
  process.exit(1);
}
const bindings = output.result.value.bindings;

function describe(value) {
  if (value.tag === "Number") {
    return { type: "Number", value: value.value };
  }
  if (value.tag === "Dist") {
    const dist = value.value;
    const quantiles = [0.05, 0.5, 0.95].map((p) => {
      const q = dist.inv(defaultEnvironment, p);
      return q.ok ? q.value : null;
    });
    const samples = dist.tag === "SampleSet" ? Array.from(dist.getSamples()) : null;
    return { type: "Dist", tag: dist.tag, quantiles, samples };
  }
  return { type: value.tag, text: value.toString() };
}

const variables = {};
for (const name of names) {
  const value = bindings.get(name);
  if (value === undefined) {
    console.error(`no variable ${name} in ${file}`);
    process.exit(1);
  }
  variables[name] = describe(value);
}
process.stdout.write(JSON.stringify({ sampleCount: defaultEnvironment.sampleCount, variables }));
