#!/usr/bin/env node
// `npx opke <command> <env>` from the repository: runs stacks/cli.ts through ts-node (transpile
// only, the project's tsconfig), like the project's other scripts. See stacks/cli.ts.
"use strict";
const path = require("node:path");

require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "..", "tsconfig.json") });
const { main } = require("../stacks/cli");

main(process.argv.slice(2)).then(
    (code) => {
        process.exitCode = code;
    },
    (e) => {
        process.stderr.write(`opke: ${e instanceof Error ? e.stack || e.message : String(e)}\n`);
        process.exitCode = 1;
    },
);
