/**
 * npm run render -- --stack <name> --out <dir> [--set <key>=<value> ...]
 *
 * Renders every asset of a stack offline: no Pulumi CLI, no cloud, no network. It reads
 * Pulumi.<name>.yaml with the same schema and validation as the program, generates a real but
 * throwaway PKI locally, and writes what the program would deploy (see lib/render/write.ts).
 */
import * as path from "node:path";
import { ConfigError, loadStackFile } from "../lib/config";
import { describePki, generateLocalPki } from "../lib/pki";
import { renderCluster } from "../lib/render";
import { formatSummary, writeRender } from "../lib/render/write";

const USAGE = "usage: npm run render -- --stack <name> --out <dir> [--set <key>=<value> ...] [--project <dir>] [--quiet]";

interface Args {
    stack: string;
    out: string;
    sets: string[];
    project: string;
    quiet: boolean;
}

export function parseArgs(argv: string[]): Args {
    const args: Partial<Args> & { sets: string[] } = { sets: [] };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = (): string => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) {
                throw new Error(`${a} needs a value\n${USAGE}`);
            }
            return v;
        };
        switch (a) {
            case "--stack":
                args.stack = value();
                break;
            case "--out":
                args.out = value();
                break;
            case "--set":
                args.sets.push(value());
                break;
            case "--project":
                args.project = value();
                break;
            case "--quiet":
                args.quiet = true;
                break;
            case "-h":
            case "--help":
                throw new Error(USAGE);
            default:
                throw new Error(`unknown argument ${a}\n${USAGE}`);
        }
    }
    if (!args.stack) {
        throw new Error(`--stack is required\n${USAGE}`);
    }
    if (!args.out) {
        throw new Error(`--out is required\n${USAGE}`);
    }
    return {
        stack: args.stack,
        out: args.out,
        sets: args.sets,
        project: args.project ?? path.resolve(__dirname, ".."),
        quiet: args.quiet ?? false,
    };
}

export async function main(argv: string[]): Promise<number> {
    const started = process.hrtime.bigint();
    let args: Args;
    try {
        args = parseArgs(argv);
    } catch (e) {
        process.stderr.write(`${(e as Error).message}\n`);
        return 2;
    }
    try {
        const cfg = loadStackFile(args.project, args.stack, args.sets);
        const material = await generateLocalPki(describePki(cfg));
        const rendered = renderCluster(cfg, material);
        const out = path.resolve(args.out);
        const summary = writeRender(cfg, rendered, out);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        if (!args.quiet) {
            process.stdout.write(formatSummary(cfg, args.out, summary, seconds) + "\n");
        }
        return 0;
    } catch (e) {
        if (e instanceof ConfigError) {
            process.stderr.write(`${e.message}\n`);
            return 1;
        }
        process.stderr.write(`render failed: ${(e as Error).stack ?? String(e)}\n`);
        return 1;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => process.exit(code));
}
