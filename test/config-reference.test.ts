/**
 * The generated configuration reference (scripts/config-reference.ts).
 *
 * (a) The marked block in README.md (else docs/configuration.md) is exactly the generator's
 *     output, so the published reference cannot drift from the schema.
 * (b) Every key path of ClusterConfigSchema, found here by an independent walk of the schema,
 *     appears in the rendered reference (after collapsing shared shapes), and the reference lists
 *     no key the schema does not have.
 * (c) Every field has a JSDoc description, and every secret config key a SECRET_CONFIG_DOCS entry.
 * (d) Spot checks of the published defaults against zod's own defaults.
 *
 * Not proven: that the JSDoc prose is right (e.g. a "Defaults to …" sentence that disagrees with
 * the default column), nor that a secret key is really read by the file named under "read by"
 * (only that the file exists).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { z } from "zod";
import {
    blockFor,
    buildConfigReference,
    describeSchema,
    END_MARKER,
    extractBlock,
    hasMarkers,
    main,
    replaceBlock,
    staleHint,
    START_MARKER,
    type ConfigReference,
} from "../scripts/config-reference";
import { ClusterConfigSchema, NetworkSpec, PkiSpec } from "../lib/config/schema";
import { SECRET_CONFIG_DOCS, SECRET_CONFIG_KEYS } from "../lib/config/load";
import versions from "../lib/versions.json";
import { Root } from "./fixtures/config-reference/schema";

const ROOT = path.resolve(__dirname, "..");
/** The files that may carry the reference block, in order of preference. */
const CANDIDATES = ["README.md", "docs/configuration.md"];

/** Rows of the schema tables (not the secret keys) of a Markdown text: key (without backticks) → cells after the key. */
function tableRows(markdown: string): Map<string, string[]> {
    const rows = new Map<string, string[]>();
    for (const line of markdown.split("### Secret config keys")[0].split("\n")) {
        const m = /^\| `([^`]+)` \| (.*) \|$/.exec(line);
        if (!m) continue;
        if (rows.has(m[1])) throw new Error(`key ${m[1]} is listed twice`);
        rows.set(m[1], m[2].split(/ (?<!\\)\| /));
    }
    return rows;
}

// --- An independent walk of the schema (zod 4 internals), for (b). ---
interface Def {
    type: string;
    innerType?: z.ZodType;
    in?: z.ZodType;
    element?: z.ZodType;
    valueType?: z.ZodType;
    shape?: Record<string, z.ZodType>;
}
const def = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;
function unwrap(s: z.ZodType): z.ZodType {
    for (;;) {
        const d = def(s);
        if (["default", "prefault", "optional", "nullable", "readonly", "catch"].includes(d.type) && d.innerType) s = d.innerType;
        else if (d.type === "pipe" && d.in) s = d.in;
        else return s;
    }
}
function holdsObject(s: z.ZodType): boolean {
    const d = def(unwrap(s));
    if (d.type === "object") return true;
    if (d.type === "array" && d.element) return holdsObject(d.element);
    if (d.type === "record" && d.valueType) return holdsObject(d.valueType);
    return false;
}
/** Every key path below `s` (record keys as `<*>`); `leaf` marks the paths that hold no object. */
function schemaPaths(s: z.ZodType, at: string, out: { path: string; leaf: boolean }[] = []): { path: string; leaf: boolean }[] {
    const d = def(unwrap(s));
    if (d.type === "object") {
        for (const [k, v] of Object.entries(d.shape ?? {})) {
            const p = at === "" ? k : `${at}.${k}`;
            out.push({ path: p, leaf: !holdsObject(v) });
            schemaPaths(v, p, out);
        }
    } else if (d.type === "array" && d.element && holdsObject(d.element)) schemaPaths(d.element, `${at}[]`, out);
    else if (d.type === "record" && d.valueType && holdsObject(d.valueType)) schemaPaths(d.valueType, `${at}.<*>`, out);
    return out;
}
const anyRecordKey = (p: string): string => p.replace(/\.<[^>]+>/g, ".<*>");

/** `p` with every prefix that is a collapsed shape replaced by the path it is documented at. */
function collapse(p: string, aliases: Record<string, string>): string {
    const entries = Object.entries(aliases).map(([from, to]) => [anyRecordKey(from), anyRecordKey(to)] as const);
    for (let guard = 0; guard < 20; guard++) {
        const hit = entries
            .filter(([from]) => p === from || p.startsWith(`${from}.`) || p.startsWith(`${from}[`))
            .sort((a, b) => b[0].length - a[0].length)[0];
        if (!hit) return p;
        p = hit[1] + p.slice(hit[0].length);
    }
    throw new Error(`aliases loop at ${p}`);
}

let ref: ConfigReference;
beforeAll(() => {
    ref = buildConfigReference();
});

describe("(a) the published block equals the generator's output", () => {
    const withMarkers = CANDIDATES.filter((f) => {
        const file = path.join(ROOT, f);
        return fs.existsSync(file) && hasMarkers(fs.readFileSync(file, "utf8"));
    });

    it("is published in README.md or docs/configuration.md", () => {
        expect(withMarkers.length).toBeGreaterThan(0);
    });

    it.each(withMarkers)("%s holds the current reference (else run npm run docs:config)", (f) => {
        const found = extractBlock(fs.readFileSync(path.join(ROOT, f), "utf8"), f);
        const expected = blockFor(ref.markdown);
        expect(found === expected ? "up to date" : `${f} is stale: ${staleHint(found, expected)}; run npm run docs:config`).toBe("up to date");
    });

    it("replaces only the block and names the file when the markers are missing", () => {
        const text = `# T\n\nprose\n${START_MARKER}\nold\n${END_MARKER}\nmore prose\n`;
        expect(replaceBlock(text, "NEW\n", "X.md")).toBe(`# T\n\nprose\n${START_MARKER}\nNEW\n${END_MARKER}\nmore prose\n`);
        expect(() => replaceBlock("# T\n", "NEW\n", "X.md")).toThrow(
            `X.md: has no ${START_MARKER} … ${END_MARKER} block; add the two marker lines (start before end) where the configuration reference belongs`,
        );
        expect(() => replaceBlock(`${START_MARKER}\n${END_MARKER}\n${START_MARKER}\n`, "NEW\n", "X.md")).toThrow(`X.md: has more than one`);
    });

    it("--write fills the block, --check then passes and fails again once the block is edited", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opke-config-reference-"));
        const file = path.join(dir, "doc.md");
        fs.writeFileSync(file, `# Doc\n\n${START_MARKER}\n${END_MARKER}\n\nafter\n`);
        const out = jest.spyOn(process.stdout, "write").mockImplementation(() => true);
        const err = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
        try {
            expect(main(["--check", file])).toBe(1);
            const complaints = err.mock.calls.map((c) => String(c[0])).filter((l) => l.startsWith(file));
            expect(complaints).toHaveLength(1);
            expect(complaints[0]).toMatch(/^\S+: the configuration reference is stale \(first difference at line 2 of the block: expected "<!-- Generated by scripts\/config-reference\.ts .*…", found ""\); run npm run docs:config\n$/);
            expect(main(["--write", file])).toBe(0);
            expect(fs.readFileSync(file, "utf8")).toBe(`# Doc\n\n${START_MARKER}\n${ref.markdown}${END_MARKER}\n\nafter\n`);
            expect(main(["--check", file])).toBe(0);
            fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("| `apiPort` |", "| `apiPortX` |"));
            expect(main(["--check", file])).toBe(1);
            fs.writeFileSync(file, "# no markers\n");
            expect(main(["--write", file])).toBe(1);
            expect(fs.readFileSync(file, "utf8")).toBe("# no markers\n");
            expect(main(["--bogus"])).toBe(2);
        } finally {
            out.mockRestore();
            err.mockRestore();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("(b) nothing is dropped", () => {
    it("documents NodeSpec and Extras once and points the other places at them", () => {
        expect(ref.aliases).toMatchObject({
            "workers[]": "controllers[]",
            "controllers[].extras": "controllerExtras",
            workerExtras: "controllerExtras",
        });
        const rows = tableRows(ref.markdown);
        expect(rows.get("workers")?.[2]).toBe("Worker nodes. Defaults to none. Each entry has the same fields as `controllers[]`.");
        expect(rows.get("controllers[].extras")?.[2]).toBe("Extra Ignition files and units for this node only. Same fields as `controllerExtras`.");
        // Every alias target is expanded in the reference (it has rows below it).
        for (const to of Object.values(ref.aliases)) expect([...rows.keys()].some((k) => k.startsWith(`${to}.`))).toBe(true);
    });

    it("lists every leaf key path of the schema, and only paths of the schema", () => {
        const paths = schemaPaths(ClusterConfigSchema, "");
        const leaves = paths.filter((p) => p.leaf).map((p) => p.path);
        expect(leaves.length).toBeGreaterThan(100);
        const rendered = new Set([...tableRows(ref.markdown).keys()].map(anyRecordKey));
        const missing = leaves.map((p) => collapse(p, ref.aliases)).filter((p) => !rendered.has(p));
        expect(missing).toEqual([]);
        const known = new Set(paths.map((p) => p.path));
        expect([...rendered].filter((k) => !known.has(k))).toEqual([]);
        // Spot checks of the path notation.
        for (const k of ["network.podCidr", "controllers[].taints[].effect", "bareMetal.machines.<node>.installDisk", "cloudflare.tunnel.hostnames.api"]) {
            expect(tableRows(ref.markdown).has(k)).toBe(true);
        }
    });

    it("finds each field's JSDoc by identity, nesting or the property naming a non-exported const", () => {
        const byKey = new Map(ref.rows.map((r) => [r.key, r.docKey]));
        expect(byKey.get("controllers[].taints[].effect")).toBe("lib/config/schema.ts#Taint.effect");
        expect(byKey.get("bareMetal.machines.<node>.installDisk")).toBe("modules/bare-metal/config.ts#MachineSpec.installDisk");
        expect(byKey.get("cloudflare.tunnel.hostnames.api")).toBe("modules/argocd/config.ts#CloudflareSpec.tunnel.hostnames.api");
        expect(byKey.get("cloudflare.dns.records[].ttl")).toBe("modules/argocd/config.ts#DnsRecordSpec.ttl");

        const fixture = describeSchema(Root, path.join(__dirname, "fixtures", "config-reference", "schema.ts"), "Root", { byName: "name" });
        expect(fixture.rows.map((r) => [r.key, r.type, r.default, r.description])).toEqual([
            ["inner", "object", "field defaults", "The inner block."],
            ["inner.a", "string", "`x`", "Inner a."],
            ["one", "object", "required", "One shared."],
            ["one.b", "integer 0–9", "—", "Shared b."],
            ["many", "list of objects", "`[]`", "Many shared. Each entry has the same fields as `one`."],
            ["byName", "map of name → object", "`{}`", "By name. Each value has the same fields as `one`."],
            ["inline", "object", "—", "Inline."],
            ["inline.c", "boolean", "`false`", "Inline c."],
            ["inline.undocumented", "one of `p`, `q`", "required", ""],
        ]);
        expect(fixture.aliases).toEqual({ "many[]": "one", "byName.<name>": "one" });
        expect(fixture.missingDescriptions).toEqual(["inline.undocumented (no JSDoc on test/fixtures/config-reference/schema.ts#Root.inline.undocumented)"]);
    });
});

describe("(c) every key is described", () => {
    it("every schema field has JSDoc", () => {
        expect(ref.missingDescriptions).toEqual([]);
        expect(ref.rows.filter((r) => r.description.trim() === "").map((r) => r.key)).toEqual([]);
    });

    it("every secret config key has a SECRET_CONFIG_DOCS line naming an existing file, and no line names a non-key", () => {
        expect(ref.missingSecretDocs).toEqual([]);
        expect(ref.staleSecretDocs).toEqual([]);
        expect(Object.keys(SECRET_CONFIG_DOCS).sort()).toEqual([...SECRET_CONFIG_KEYS].sort());
        for (const [key, doc] of Object.entries(SECRET_CONFIG_DOCS)) {
            expect([key, fs.existsSync(path.join(ROOT, doc.readBy))]).toEqual([key, true]);
        }
        const secretRows = [...ref.markdown.split("### Secret config keys")[1].matchAll(/^\| `opke:([^`]+)` \|/gm)].map((m) => m[1]);
        expect(secretRows).toEqual([...SECRET_CONFIG_KEYS]);
    });
});

describe("(d) the published defaults are zod's", () => {
    /** The rows of the published block (README.md, else docs/configuration.md), else of the generator. */
    function published(): Map<string, string[]> {
        const f = CANDIDATES.map((c) => path.join(ROOT, c)).find((p) => fs.existsSync(p) && hasMarkers(fs.readFileSync(p, "utf8")));
        return tableRows(f ? extractBlock(fs.readFileSync(f, "utf8"), f) : ref.markdown);
    }

    it("spot checks", () => {
        const rows = published();
        const network = NetworkSpec.parse({});
        const pki = PkiSpec.parse({});
        expect(network.podCidr).toBe("10.20.0.0/16");
        expect(rows.get("network.podCidr")).toEqual(["string", "`10.20.0.0/16`", expect.any(String)]);
        expect(ClusterConfigSchema.shape.apiPort.parse(undefined)).toBe(6443);
        expect(rows.get("apiPort")?.slice(0, 2)).toEqual(["integer 1–65535", "`6443`"]);
        expect(pki.algorithm).toBe("RSA");
        expect(rows.get("pki.algorithm")?.slice(0, 2)).toEqual(["one of `RSA`, `ECDSA`", "`RSA`"]);
        expect(rows.get("pki.rsaBits")?.[1]).toBe(`\`${pki.rsaBits}\``);
        expect(rows.get("kubernetesVersion")?.[1]).toBe(`\`${versions.kubernetes}\``);
        expect(rows.get("gitops.chart.version")?.[1]).toBe(`\`${versions.argocd.chart}\``);
        expect(rows.get("clusterName")?.[1]).toBe("*required*");
        expect(rows.get("ssh.bastion")?.[1]).toBe("—");
        expect(rows.get("network")?.[1]).toBe("*field defaults*");
        expect(rows.get("bareMetal.kernelArgs")?.[1]).toBe('`["console=tty0", "console=ttyS0,115200n8"]`');
    });
});
