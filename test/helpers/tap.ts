/**
 * The reporter of the scripted end-to-end tests (test:ssh, test:e2e:engine): one TAP-style line per
 * check, "not run here" lines for steps that cannot run on this machine, and the closing line
 * `N passed, N failed[, N skipped]` CI reads.
 */
export class Tap {
    passed = 0;
    failed = 0;
    skipped = 0;
    private count = 0;

    report(ok: boolean, name: string, detail?: string): void {
        this.count++;
        if (ok) this.passed++;
        else this.failed++;
        console.log(`${ok ? "ok" : "not ok"} ${this.count} - ${name}${!ok && detail ? `\n    ${detail.split("\n").join("\n    ")}` : ""}`);
    }

    /** Runs a check; an exception counts as a failure with its message. */
    async check(name: string, fn: () => void | Promise<void>): Promise<boolean> {
        try {
            await fn();
            this.report(true, name);
            return true;
        } catch (e) {
            this.report(false, name, e instanceof Error ? e.message : String(e));
            return false;
        }
    }

    /** A step this machine cannot run, named with the reason (counted as skipped, never silently). */
    notRun(step: string, reason: string): void {
        this.skipped++;
        console.log(`not run here: ${step} — ${reason}`);
    }

    note(text: string): void {
        console.log(`# ${text}`);
    }

    /** The closing line; `extraFailures` counts a crash of the test itself. */
    summary(extraFailures = 0): string {
        return `${this.passed} passed, ${this.failed + extraFailures} failed${this.skipped ? `, ${this.skipped} skipped` : ""}`;
    }
}

export function expectEqual(actual: unknown, expected: unknown, what: string): void {
    const a = JSON.stringify(actual);
    const e = JSON.stringify(expected);
    if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

export function expectTrue(cond: unknown, what: string): void {
    if (!cond) throw new Error(what);
}
