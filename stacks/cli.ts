/**
 * `opke` — a small CLI over stacks/automation.ts:
 *
 *   npx opke preview dev            what `up` would change (the local program + Pulumi.dev.yaml)
 *   npx opke up dev [--yes]         create or update the environment
 *   npx opke refresh prod --yes     read the real state of every resource into the state
 *   npx opke destroy dev --yes      delete every resource of the environment
 *   npx opke drift prod             refresh --preview-only + preview; exit 3 on any difference
 *
 * Progress goes to stderr, one line per resource operation with its duration, then the counts;
 * the result (counts, masked outputs) goes to stdout, as JSON with --json.
 *
 * Exit codes: 0 ok, 1 failure (including a missing Pulumi toolchain), 2 usage (arguments, stack
 * file, passphrase), 3 changes found (`drift`, `preview --expect-no-changes`).
 *
 * Run from the repository: `npx opke …` (package.json `bin` → bin/opke.js) or
 * `node -r ts-node/register/transpile-only stacks/cli.ts …` (`npm start` = `preview dev`).
 */
import * as readline from "node:readline";
import {
    destroy,
    formatDuration,
    OperationError,
    OperationOptions,
    OperationResult,
    preview,
    previewDrift,
    ProgressEvent,
    PROJECT_ROOT,
    refresh,
    SECRET_MASK,
    SettingsError,
    ToolchainError,
    up,
    type ChangeKind,
    type MaskedOutput,
} from "./automation";

export const COMMANDS = ["preview", "up", "refresh", "destroy", "drift"] as const;
export type Command = (typeof COMMANDS)[number];

export const EXIT = { ok: 0, failure: 1, usage: 2, changes: 3 } as const;

export const USAGE = `usage: opke <command> <env> [options]

commands (the local program: Pulumi.yaml + Pulumi.<env>.yaml, like \`pulumi <command> --stack <env>\`):
  preview <env>   show what \`up\` would change
  up <env>        create or update the environment
  refresh <env>   read the real state of every resource into the stack state
  destroy <env>   delete every resource of the environment (the stack and its file stay)
  drift <env>     refresh --preview-only (real world vs state) and preview (program vs state),
                  without writing the state; exit 3 when either shows a change

options:
  -y, --yes              do not ask for confirmation (up, refresh, destroy; required without a terminal)
  --diff                 show Pulumi's own detailed diff instead of the compact progress lines
  --json                 print the result as JSON on stdout (progress stays on stderr)
  --expect-no-changes    preview only: exit 3 when there are changes
  --backend-url <url>    state backend (default: $PULUMI_BACKEND_URL, else file://<project>/.pulumi)
  -h, --help             this text

secrets: PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE; the example stack dev alone
falls back to the documented passphrase opke-dev.
exit codes: 0 ok, 1 failure, 2 usage, 3 changes found (drift, preview --expect-no-changes)`;

export interface CliArgs {
    command: Command;
    env: string;
    yes: boolean;
    diff: boolean;
    json: boolean;
    expectNoChanges: boolean;
    backendUrl?: string;
}

export type ParseResult = { kind: "run"; args: CliArgs } | { kind: "help" } | { kind: "usage-error"; message: string };

/** Parses the arguments after `opke`. Pure. */
export function parseArgs(argv: readonly string[]): ParseResult {
    const positional: string[] = [];
    const flags = { yes: false, diff: false, json: false, expectNoChanges: false };
    let backendUrl: string | undefined;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "-h" || a === "--help") return { kind: "help" };
        if (a === "-y" || a === "--yes") flags.yes = true;
        else if (a === "--diff") flags.diff = true;
        else if (a === "--json") flags.json = true;
        else if (a === "--expect-no-changes") flags.expectNoChanges = true;
        else if (a === "--backend-url" || a.startsWith("--backend-url=")) {
            const v = a === "--backend-url" ? argv[++i] : a.slice("--backend-url=".length);
            if (v === undefined || v === "" || v.startsWith("-")) return { kind: "usage-error", message: "--backend-url needs a URL, e.g. --backend-url file://~/.pulumi-opke or s3://my-bucket/opke" };
            backendUrl = v;
        } else if (a === "--") {
            positional.push(...argv.slice(i + 1));
            break;
        } else if (a.startsWith("-") && a !== "-") {
            return { kind: "usage-error", message: `unknown option ${JSON.stringify(a)}; see opke --help` };
        } else positional.push(a);
    }
    if (positional.length === 0) return { kind: "usage-error", message: `missing command; use one of ${COMMANDS.join(", ")}` };
    const [command, env, ...extra] = positional;
    if (!(COMMANDS as readonly string[]).includes(command)) {
        return { kind: "usage-error", message: `unknown command ${JSON.stringify(command)}; use one of ${COMMANDS.join(", ")}` };
    }
    if (env === undefined) return { kind: "usage-error", message: `${command} needs an environment (stack) name, e.g. \`opke ${command} dev\`` };
    if (!/^[A-Za-z0-9_.-]+$/.test(env)) {
        return { kind: "usage-error", message: `${JSON.stringify(env)} is not a stack name; use letters, digits, '_', '.' and '-' (the name of a Pulumi.<env>.yaml)` };
    }
    if (extra.length > 0) return { kind: "usage-error", message: `unexpected argument ${JSON.stringify(extra[0])}; give one environment, e.g. \`opke ${command} ${env}\`` };
    if (flags.expectNoChanges && command !== "preview") {
        return { kind: "usage-error", message: `--expect-no-changes is for preview only (drift always exits 3 on changes)` };
    }
    return { kind: "run", args: { command: command as Command, env, ...flags, ...(backendUrl ? { backendUrl } : {}) } };
}

// ---------------------------------------------------------------------------------------------
// Progress display

const SYMBOL: Record<ChangeKind, string> = { create: "+", update: "~", replace: "+-", delete: "-", same: " ", read: ">", import: "=", other: "*" };
const DONE_WORD: Record<ChangeKind, string> = {
    create: "created",
    update: "updated",
    replace: "replaced",
    delete: "deleted",
    same: "same",
    read: "read",
    import: "imported",
    other: "done",
};

/**
 * Renders ProgressEvents as compact lines: one per resource operation (a preview's planned
 * changes; an update's finished or failed operations with their durations), warnings and errors,
 * and a heartbeat naming what has been running for a while. Unchanged resources are counted, not
 * listed.
 */
export class ProgressDisplay {
    private readonly running = new Map<string, { name: string; since: number }>();
    private lastBeat: number;

    constructor(
        private readonly write: (line: string) => void,
        private readonly now: () => number = Date.now,
        private readonly heartbeatSeconds = 30,
    ) {
        this.lastBeat = now();
    }

    handle(e: ProgressEvent): void {
        if (e.type === "output") return;
        if (e.type === "diagnostic") {
            if (e.severity === "error" || e.severity === "warning") {
                const first = e.message.split("\n");
                this.write(`  ${e.severity}: ${first[0]}${e.name ? ` [${e.name}]` : ""}`);
                for (const l of first.slice(1)) if (l.trim()) this.write(`      ${l}`);
            } else if (e.severity === "info" || e.severity === "info#err") {
                for (const l of e.message.split("\n")) if (l.trim()) this.write(`  info: ${l}${e.name ? ` [${e.name}]` : ""}`);
            }
            return;
        }
        const key = `${e.urn} ${e.op}`;
        switch (e.status) {
            case "planned":
                if (e.kind !== "same" && e.kind !== "read" && !isReplacementPart(e.op)) this.write(this.line(SYMBOL[e.kind], e.op, e.resourceType, e.name));
                return;
            case "started":
                if (e.kind !== "same") this.running.set(key, { name: e.name, since: this.now() });
                return;
            case "done":
                this.running.delete(key);
                if (e.kind === "same") return;
                this.write(this.line(SYMBOL[e.kind], isReplacementPart(e.op) ? e.op : DONE_WORD[e.kind], e.resourceType, e.name, e.elapsedSeconds));
                return;
            case "failed":
                this.running.delete(key);
                this.write(this.line("!", "failed", e.resourceType, e.name, e.elapsedSeconds));
                return;
        }
    }

    /** Call periodically: every `heartbeatSeconds`, one line listing the operations still running. */
    tick(): void {
        const t = this.now();
        if (this.running.size === 0 || (t - this.lastBeat) / 1000 < this.heartbeatSeconds) return;
        this.lastBeat = t;
        const items = [...this.running.values()].sort((a, b) => a.since - b.since);
        const shown = items.slice(0, 4).map((r) => `${r.name} (${formatDuration((t - r.since) / 1000)})`);
        this.write(`  … running: ${shown.join(", ")}${items.length > 4 ? ` and ${items.length - 4} more` : ""}`);
    }

    private line(symbol: string, word: string, type: string, name: string, seconds?: number): string {
        const time = seconds === undefined ? "" : `  ${formatDuration(seconds)}`;
        return `  ${symbol.padEnd(2)} ${word.padEnd(18)} ${type.padEnd(36)} ${name}${time}`;
    }
}

function isReplacementPart(op: string): boolean {
    return op === "create-replacement" || op === "delete-replaced" || op === "read-replacement" || op === "import-replacement" || op === "discard-replaced";
}

/** One output as a short line: strings up to 100 characters, everything else compact JSON, cut. */
export function formatOutputValue(o: MaskedOutput): string {
    if (o.secret) return SECRET_MASK;
    const text = typeof o.value === "string" ? o.value : JSON.stringify(o.value);
    const oneLine = (text ?? "null").replace(/\n/g, "\\n");
    return oneLine.length > 100 ? `${oneLine.slice(0, 97)}… (${oneLine.length} chars)` : oneLine;
}

// ---------------------------------------------------------------------------------------------
// main

export interface CliIO {
    stdout: (text: string) => void;
    stderr: (text: string) => void;
    /** Whether a person can answer a confirmation prompt. */
    interactive: boolean;
    /** Asks a yes/no question; resolves true for yes. */
    confirm: (question: string) => Promise<boolean>;
    environ: NodeJS.ProcessEnv;
    projectRoot: string;
    now: () => number;
    /** The operations (tests replace them). */
    ops: { preview: typeof preview; up: typeof up; refresh: typeof refresh; destroy: typeof destroy; previewDrift: typeof previewDrift };
}

function defaultIO(): CliIO {
    return {
        stdout: (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
        stderr: (t) => process.stderr.write(t.endsWith("\n") ? t : `${t}\n`),
        interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
        confirm: (question) =>
            new Promise((resolve) => {
                const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
                rl.question(`${question} [y/N] `, (answer) => {
                    rl.close();
                    resolve(/^y(es)?$/i.test(answer.trim()));
                });
            }),
        environ: process.env,
        projectRoot: PROJECT_ROOT,
        now: Date.now,
        ops: { preview, up, refresh, destroy, previewDrift },
    };
}

function printResult(io: CliIO, r: OperationResult, showOutputs: boolean): void {
    for (const w of r.warnings) io.stderr(`warning: ${w}`);
    io.stdout(r.summary);
    if (showOutputs && Object.keys(r.outputs).length > 0) {
        io.stdout("outputs:");
        for (const [k, o] of Object.entries(r.outputs)) io.stdout(`  ${k}: ${formatOutputValue(o)}`);
    }
}

/** Runs one CLI invocation; resolves with the exit code. Never calls process.exit. */
export async function main(argv: readonly string[], ioOverrides: Partial<CliIO> = {}): Promise<number> {
    const io: CliIO = { ...defaultIO(), ...ioOverrides };
    const parsed = parseArgs(argv);
    if (parsed.kind === "help") {
        io.stdout(USAGE);
        return EXIT.ok;
    }
    if (parsed.kind === "usage-error") {
        io.stderr(`opke: ${parsed.message}\n(opke --help for usage)`);
        return EXIT.usage;
    }
    const a = parsed.args;
    const mutating = a.command === "up" || a.command === "refresh" || a.command === "destroy";
    if (mutating && !a.yes && !io.interactive) {
        io.stderr(`opke: ${a.command} ${a.env} changes the environment; pass --yes to run it without a confirmation prompt (no terminal to ask on)\n(opke --help for usage)`);
        return EXIT.usage;
    }

    const tickers: NodeJS.Timeout[] = [];
    const makeOpts = (): OperationOptions => {
        const display = new ProgressDisplay((l) => io.stderr(l), io.now);
        const timer = setInterval(() => display.tick(), 1000);
        timer.unref();
        tickers.push(timer);
        return {
            projectRoot: io.projectRoot,
            environ: io.environ,
            now: io.now,
            ...(a.backendUrl ? { backendUrl: a.backendUrl } : {}),
            ...(a.diff ? { diff: true, onOutput: (t: string) => io.stderr(t.replace(/\n$/, "")) } : { onProgress: (e: ProgressEvent) => display.handle(e) }),
        };
    };
    const json = (value: unknown) => io.stdout(JSON.stringify(value, null, 2));

    try {
        switch (a.command) {
            case "preview": {
                io.stderr(`preview ${a.env} …`);
                const r = await io.ops.preview(a.env, makeOpts());
                if (a.json) json(r);
                else printResult(io, r, false);
                return a.expectNoChanges && r.changed ? EXIT.changes : EXIT.ok;
            }
            case "drift": {
                io.stderr(`drift ${a.env}: refresh --preview-only (real world vs state) …`);
                const real = await io.ops.previewDrift(a.env, makeOpts());
                io.stderr(`drift ${a.env}: preview (program and config vs state) …`);
                const program = await io.ops.preview(a.env, makeOpts());
                const drift = real.changed || program.changed;
                if (a.json) json({ kind: "drift", env: a.env, drift, refresh: real, preview: program });
                else {
                    printResult(io, real, false);
                    printResult(io, program, false);
                    io.stdout(drift ? `drift ${a.env}: DRIFT (${[real.changed ? "the real world differs from the state" : "", program.changed ? "the program or config differs from the state" : ""].filter(Boolean).join("; ")})` : `drift ${a.env}: none`);
                }
                return drift ? EXIT.changes : EXIT.ok;
            }
            case "up":
            case "refresh":
            case "destroy": {
                if (!a.yes) {
                    if (a.command === "up") {
                        io.stderr(`up ${a.env}: previewing first …`);
                        const p = await io.ops.preview(a.env, makeOpts());
                        printResult(io, p, false);
                        if (!p.changed) {
                            io.stderr(`up ${a.env}: nothing to do`);
                            return EXIT.ok;
                        }
                    }
                    const ok = await io.confirm(`${a.command} ${a.env}: go ahead?`);
                    if (!ok) {
                        io.stderr(`${a.command} ${a.env}: cancelled`);
                        return EXIT.failure;
                    }
                }
                io.stderr(`${a.command} ${a.env} …`);
                const r = await io.ops[a.command](a.env, makeOpts());
                if (a.json) json(r);
                else printResult(io, r, a.command === "up");
                return EXIT.ok;
            }
            default: {
                const unreachable: never = a.command;
                throw new Error(`unhandled command ${String(unreachable)}`);
            }
        }
    } catch (e) {
        if (e instanceof SettingsError) {
            io.stderr(`opke: ${e.message}`);
            return EXIT.usage;
        }
        if (e instanceof ToolchainError) {
            io.stderr(e.message);
            return EXIT.failure;
        }
        if (e instanceof OperationError) {
            io.stderr(`opke: ${e.message}`);
            const failed = e.classification.failed;
            if (failed.length) io.stderr(`failed resources: ${failed.join(", ")}`);
            return EXIT.failure;
        }
        io.stderr(`opke: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        return EXIT.failure;
    } finally {
        for (const t of tickers) clearInterval(t);
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => {
            process.exitCode = code;
        },
        (e) => {
            process.stderr.write(`opke: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
            process.exitCode = EXIT.failure;
        },
    );
}
