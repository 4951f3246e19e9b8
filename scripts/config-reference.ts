/**
 * node -r ts-node/register/transpile-only scripts/config-reference.ts [--write <file> | --check <file>]
 *
 * The configuration reference, generated from the one place the configuration is defined: the zod
 * schema `ClusterConfigSchema` (lib/config/schema.ts and the modules' config.ts it embeds) and the
 * JSDoc comment on each of its fields. Without options it prints the Markdown; `--write <file>`
 * replaces the block between `<!-- config-reference:start -->` and `<!-- config-reference:end -->`
 * in <file> (`npm run docs:config` does this for README.md); `--check <file>` exits 1 when that
 * block is stale. test/config-reference.test.ts keeps the README block equal to this output.
 *
 * How it works:
 *   - Keys, types and nesting come from walking the schema (zod 4 `schema._zod.def`), wrappers
 *     (default, optional, pipe, …) unwrapped.
 *   - "required" and the defaults come from zod itself: each field schema is parsed with
 *     `undefined` (a failure means required, `undefined` means optional without a default,
 *     anything else is the default). Nothing is hard-coded here.
 *   - Descriptions are the fields' JSDoc, read with the TypeScript compiler API from the schema's
 *     source files (lib/config/schema.ts and the relative imports that use zod, found by following
 *     the imports). A property of `z.strictObject({...})` / `z.object({...})` is documented as
 *     `<Owner>.<prop>`, where Owner is the top-level const holding the object
 *     (`export const NetworkSpec = z.strictObject(...)`) or, for an inline object, its owner's
 *     path (`CloudflareSpec.tunnel.hostnames`). A schema object is matched to its Owner by
 *     identity (the exported consts of the imported modules), else through the property that
 *     names a top-level const of the same file (non-exported consts), else by nesting.
 *   - A schema object used in several places (NodeSpec for controllers and workers, Extras) is
 *     documented once, at its shallowest path (first in schema order on a tie); the other places
 *     say "same fields as `<path>`" (`aliases`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import * as ts from "typescript";
import type { z } from "zod";
import { ClusterConfigSchema } from "../lib/config/schema";
import { SECRET_CONFIG_DOCS, SECRET_CONFIG_KEYS } from "../lib/config/load";

export const START_MARKER = "<!-- config-reference:start -->";
export const END_MARKER = "<!-- config-reference:end -->";

const REPO_ROOT = path.resolve(__dirname, "..");
/** The file that defines `ClusterConfigSchema`; the other schema sources are found from its imports. */
const ROOT_SCHEMA_FILE = path.join(REPO_ROOT, "lib", "config", "schema.ts");
const ROOT_SCHEMA_NAME = "ClusterConfigSchema";

/**
 * Names of the mapping keys of records whose values are objects (shown as `<name>` in key paths).
 * Presentation only; an entry that names no record of the schema is an error.
 */
const RECORD_KEY_NAMES: Readonly<Record<string, string>> = {
    "bareMetal.machines": "node",
    "ssh.hostKeys": "node",
};

const OBJECT_FACTORIES = new Set(["strictObject", "object", "looseObject"]);
const WRAPPERS = new Set(["default", "prefault", "optional", "nullable", "readonly", "catch", "nonoptional"]);

type Schema = z.ZodType;

/** The parts of zod 4's internal definition read here. */
interface Def {
    type: string;
    innerType?: Schema;
    in?: Schema;
    element?: Schema;
    keyType?: Schema;
    valueType?: Schema;
    shape?: Record<string, Schema>;
    options?: Schema[];
    entries?: Record<string, string | number>;
    values?: unknown[];
}

function defOf(schema: Schema): Def {
    return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

function isSchema(value: unknown): value is Schema {
    return typeof value === "object" && value !== null && "_zod" in value;
}

/** The schema without default/optional/pipe/… wrappers (a pipe is read through its input side). */
function core(schema: Schema): Schema {
    for (;;) {
        const def = defOf(schema);
        if (WRAPPERS.has(def.type) && def.innerType) schema = def.innerType;
        else if (def.type === "pipe" && def.in) schema = def.in;
        else return schema;
    }
}

// ---------------------------------------------------------------------------------------------
// JSDoc from the schema's source files

/** A schema object's documentation owner: its source file and `Name` or `Name.prop.prop`. */
interface Owner {
    file: string;
    name: string;
}

interface SourceDocs {
    /** `<file>#<Owner>.<prop>` → JSDoc text ("" when the property has none). */
    docs: Map<string, string>;
    /** `<file>#<Owner>.<prop>` → the top-level object const of the same file the property uses. */
    propertyConsts: Map<string, Owner>;
    /** Top-level consts holding a zod object, per file. */
    objectConsts: Map<string, Set<string>>;
    /** Absolute paths of the schema source files. */
    files: string[];
}

const relative = (file: string): string => path.relative(REPO_ROOT, file).split(path.sep).join("/");
const docKey = (owner: Owner, prop: string): string => `${owner.file}#${owner.name}.${prop}`;

function isZodObjectCall(node: ts.Node): node is ts.CallExpression {
    if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression)) return false;
    const callee = node.expression;
    return ts.isIdentifier(callee.expression) && callee.expression.text === "z" && OBJECT_FACTORIES.has(callee.name.text);
}

/** The `z.strictObject(...)` call a chain such as `z.strictObject({...}).default(...)` starts with. */
function chainRoot(expr: ts.Expression): ts.CallExpression | undefined {
    for (;;) {
        if (isZodObjectCall(expr)) return expr;
        if (ts.isCallExpression(expr) || ts.isPropertyAccessExpression(expr) || ts.isParenthesizedExpression(expr)) expr = expr.expression;
        else return undefined;
    }
}

function isTopLevel(decl: ts.VariableDeclaration): boolean {
    return ts.isVariableDeclarationList(decl.parent) && ts.isVariableStatement(decl.parent.parent) && ts.isSourceFile(decl.parent.parent.parent);
}

function propertyName(name: ts.PropertyName): string | undefined {
    return ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name) ? name.text : undefined;
}

/** `Owner` name of the object a zod object call builds: its top-level const, or its owner's path. */
function ownerNameOf(call: ts.CallExpression): string | undefined {
    for (let n: ts.Node = call.parent; n !== undefined; n = n.parent) {
        if (ts.isPropertyAssignment(n)) {
            const literal = n.parent;
            const outer = literal.parent;
            if (!isZodObjectCall(outer) || outer.arguments[0] !== literal) return undefined;
            const outerName = ownerNameOf(outer);
            const prop = propertyName(n.name);
            return outerName !== undefined && prop !== undefined ? `${outerName}.${prop}` : undefined;
        }
        if (ts.isVariableDeclaration(n)) return isTopLevel(n) && ts.isIdentifier(n.name) ? n.name.text : undefined;
        if (ts.isFunctionLike(n) || ts.isSourceFile(n) || ts.isObjectLiteralExpression(n)) return undefined;
    }
    return undefined;
}

/** The leading JSDoc of a node as one line ("" when there is none). */
function jsdocText(node: ts.Node): string {
    const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
    const last = docs[docs.length - 1];
    if (!last) return "";
    return (ts.getTextOfJSDocComment(last.comment) ?? "").replace(/\s+/g, " ").trim();
}

function importsZod(source: ts.SourceFile): boolean {
    return source.statements.some(
        (s) => ts.isImportDeclaration(s) && ts.isStringLiteral(s.moduleSpecifier) && s.moduleSpecifier.text === "zod" && !s.importClause?.isTypeOnly,
    );
}

function relativeImports(source: ts.SourceFile, file: string): string[] {
    const out: string[] = [];
    for (const s of source.statements) {
        if (!ts.isImportDeclaration(s) || !ts.isStringLiteral(s.moduleSpecifier) || !s.moduleSpecifier.text.startsWith(".")) continue;
        const base = path.resolve(path.dirname(file), s.moduleSpecifier.text);
        const found = [`${base}.ts`, path.join(base, "index.ts")].find((f) => fs.existsSync(f));
        if (found) out.push(found);
    }
    return out;
}

/** Reads the JSDoc of every zod object property in the schema's source files. */
export function collectSourceDocs(rootFile = ROOT_SCHEMA_FILE): SourceDocs {
    const result: SourceDocs = { docs: new Map(), propertyConsts: new Map(), objectConsts: new Map(), files: [] };
    const pending = [rootFile];
    const seen = new Set<string>();
    while (pending.length > 0) {
        const file = pending.shift() as string;
        if (seen.has(file)) continue;
        seen.add(file);
        const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
        if (!importsZod(source)) continue;
        result.files.push(file);
        pending.push(...relativeImports(source, file));
        const rel = relative(file);

        const consts = new Set<string>();
        for (const s of source.statements) {
            if (!ts.isVariableStatement(s)) continue;
            for (const d of s.declarationList.declarations) {
                if (ts.isIdentifier(d.name) && d.initializer && chainRoot(d.initializer)) consts.add(d.name.text);
            }
        }
        result.objectConsts.set(rel, consts);

        const visit = (node: ts.Node): void => {
            if (isZodObjectCall(node) && node.arguments[0] && ts.isObjectLiteralExpression(node.arguments[0])) {
                const ownerName = ownerNameOf(node);
                if (ownerName !== undefined) {
                    const owner = { file: rel, name: ownerName };
                    for (const p of node.arguments[0].properties) {
                        const prop = p.name && propertyName(p.name);
                        if (prop === undefined) continue;
                        result.docs.set(docKey(owner, prop), jsdocText(p));
                        if (!ts.isPropertyAssignment(p)) continue;
                        // The property holds a top-level object const when it names exactly one and
                        // builds no inline object (whose fields are documented under this property).
                        const used = new Set<string>();
                        let inline = false;
                        const scan = (n: ts.Node): void => {
                            if (isZodObjectCall(n)) inline = true;
                            else if (ts.isIdentifier(n) && consts.has(n.text)) used.add(n.text);
                            ts.forEachChild(n, scan);
                        };
                        scan(p.initializer);
                        if (!inline && used.size === 1) result.propertyConsts.set(docKey(owner, prop), { file: rel, name: [...used][0] });
                    }
                }
            }
            ts.forEachChild(node, visit);
        };
        visit(source);
    }
    return result;
}

/** Schema object instance → its owner, for the top-level object consts the modules export. */
function exportedObjects(docs: SourceDocs): Map<Schema, Owner> {
    const out = new Map<Schema, Owner>();
    for (const file of docs.files) {
        const rel = relative(file);
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mod = require(file.replace(/\.ts$/, "")) as Record<string, unknown>;
        for (const name of docs.objectConsts.get(rel) ?? []) {
            const value = mod[name];
            if (!isSchema(value)) continue;
            const object = core(value);
            if (defOf(object).type === "object" && !out.has(object)) out.set(object, { file: rel, name });
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Walking the schema

/** One row of the reference. */
export interface ReferenceRow {
    /** Top-level key the row belongs to; "" for the top-level scalar settings. */
    section: string;
    /** Key path: `network.podCidr`, `controllers[].taints[].effect`, `bareMetal.machines.<node>.installDisk`. */
    key: string;
    type: string;
    /** "required", "—" (optional, no default), "field defaults" or the default value in backticks. */
    default: string;
    /** The field's JSDoc ("" when it has none), plus the pointer for a shared shape. */
    description: string;
    /** Where the JSDoc is looked up: `<file>#<Owner>.<prop>`. */
    docKey: string;
    /** The field holds no object (also not as list entries or mapping values). */
    leaf: boolean;
}

export interface SecretRow {
    key: string;
    usedFor: string;
    readBy: string;
}

export interface ConfigReference {
    markdown: string;
    rows: ReferenceRow[];
    secrets: SecretRow[];
    /** Path of a shape documented elsewhere → the path it is documented at (`workers[]` → `controllers[]`). */
    aliases: Record<string, string>;
    /** Fields without JSDoc, as `<key> (<docKey>)`. */
    missingDescriptions: string[];
    /** Keys of SECRET_CONFIG_KEYS without an entry in SECRET_CONFIG_DOCS. */
    missingSecretDocs: string[];
    /** Entries of SECRET_CONFIG_DOCS that name no secret key. */
    staleSecretDocs: string[];
}

const join = (base: string, prop: string): string => (base === "" ? prop : `${base}.${prop}`);

/** The object a field holds (directly, as list entries or as mapping values) and its key path. */
function heldObject(
    fieldPath: string,
    field: Schema,
    recordKeyNames: Readonly<Record<string, string>>,
    usedRecordNames: Set<string>,
): { object: Schema; path: string } | undefined {
    let schema = core(field);
    let at = fieldPath;
    for (;;) {
        const def = defOf(schema);
        if (def.type === "object") return { object: schema, path: at };
        if (def.type === "array" && def.element) {
            at = `${at}[]`;
            schema = core(def.element);
        } else if (def.type === "record" && def.valueType) {
            const name = recordKeyNames[at] ?? "key";
            if (recordKeyNames[at] !== undefined) usedRecordNames.add(at);
            at = `${at}.<${name}>`;
            schema = core(def.valueType);
        } else return undefined;
    }
}

const code = (text: string): string => (text.includes("`") ? `\`\` ${text} \`\`` : `\`${text}\``);

/** A value as shown in the table: strings bare, anything else as JSON with a space after `,` and `:`. */
function valueText(value: unknown): string {
    if (typeof value === "string") return value === "" ? '""' : value;
    const json = (v: unknown): string => {
        if (Array.isArray(v)) return `[${v.map(json).join(", ")}]`;
        if (v !== null && typeof v === "object") return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${json(x)}`).join(", ")}}`;
        return JSON.stringify(v);
    };
    return json(value);
}

const oneOf = (values: unknown[]): string => (values.length === 1 ? code(valueText(values[0])) : `one of ${values.map((v) => code(valueText(v))).join(", ")}`);

function numberText(schema: Schema): string {
    const n = schema as unknown as { isInt?: boolean; minValue?: number | null; maxValue?: number | null };
    const bounded = (v: number | null | undefined): v is number => typeof v === "number" && Number.isFinite(v) && Math.abs(v) < Number.MAX_SAFE_INTEGER;
    const kind = n.isInt ? "integer" : "number";
    const lo = bounded(n.minValue) ? n.minValue : undefined;
    const hi = bounded(n.maxValue) ? n.maxValue : undefined;
    if (lo !== undefined && hi !== undefined) return `${kind} ${lo}–${hi}`;
    if (lo !== undefined) return `${kind} ≥ ${lo}`;
    if (hi !== undefined) return `${kind} ≤ ${hi}`;
    return kind;
}

function typeText(field: Schema, recordKey: string): string {
    const schema = core(field);
    const def = defOf(schema);
    switch (def.type) {
        case "number":
            return numberText(schema);
        case "enum":
            return oneOf(Object.values(def.entries ?? {}));
        case "literal":
            return oneOf(def.values ?? []);
        case "union":
            return (def.options ?? []).map((o) => typeText(o, "key")).join(" or ");
        case "array":
            return def.element && defOf(core(def.element)).type === "object" ? "list of objects" : `list of ${def.element ? typeText(def.element, "key") : "?"}`;
        case "record": {
            const value = def.valueType ? core(def.valueType) : undefined;
            const valueType = value === undefined ? "?" : defOf(value).type === "object" ? "object" : typeText(value, "key");
            return `map of ${recordKey} → ${valueType}`;
        }
        default:
            return def.type;
    }
}

function defaultText(field: Schema): string {
    const parsed = field.safeParse(undefined);
    if (!parsed.success) return "required";
    if (parsed.data === undefined) return "—";
    const schema = core(field);
    if (defOf(schema).type === "object") {
        const empty = schema.safeParse({});
        if (empty.success && isDeepStrictEqual(empty.data, parsed.data)) return "field defaults";
    }
    return code(valueText(parsed.data));
}

/** Canonical path of every schema object: its shallowest place, first in schema order on a tie. */
function canonicalPaths(root: Schema, recordKeyNames: Readonly<Record<string, string>>): Map<Schema, string> {
    const canonical = new Map<Schema, string>();
    const queue: { object: Schema; path: string }[] = [{ object: root, path: "" }];
    const ignored = new Set<string>();
    while (queue.length > 0) {
        const { object, path: at } = queue.shift() as { object: Schema; path: string };
        if (canonical.has(object)) continue;
        canonical.set(object, at);
        for (const [prop, field] of Object.entries(defOf(object).shape ?? {})) {
            const held = heldObject(join(at, prop), field, recordKeyNames, ignored);
            if (held) queue.push(held);
        }
    }
    return canonical;
}

function sameFieldsNote(path: string, canonical: string): string {
    const how = path.endsWith("[]") ? "Each entry has the same fields as" : path.endsWith(">") ? "Each value has the same fields as" : "Same fields as";
    return `${how} ${code(canonical)}.`;
}

export interface SchemaDescription {
    rows: ReferenceRow[];
    aliases: Record<string, string>;
    missingDescriptions: string[];
    /** Entries of `recordKeyNames` that named a mapping of the schema. */
    usedRecordNames: Set<string>;
}

/**
 * The rows for a root object schema defined as top-level const `rootName` in `rootFile` (the schema
 * sources are that file and the zod-using files it imports, relatively, transitively).
 */
export function describeSchema(
    rootSchema: Schema,
    rootFile: string,
    rootName: string,
    recordKeyNames: Readonly<Record<string, string>> = {},
): SchemaDescription {
    const sources = collectSourceDocs(rootFile);
    const identity = exportedObjects(sources);
    const root = core(rootSchema);
    const rootOwner = identity.get(root) ?? { file: relative(rootFile), name: rootName };
    const canonical = canonicalPaths(root, recordKeyNames);
    const usedRecordNames = new Set<string>();
    const rows: ReferenceRow[] = [];
    const aliases: Record<string, string> = {};
    const missingDescriptions: string[] = [];

    const visit = (object: Schema, at: string, owner: Owner, section: string): void => {
        for (const [prop, field] of Object.entries(defOf(object).shape ?? {})) {
            const key = join(at, prop);
            const where = docKey(owner, prop);
            const jsdoc = sources.docs.get(where) ?? "";
            if (jsdoc === "") missingDescriptions.push(`${key} (${sources.docs.has(where) ? "no JSDoc on" : "no source property found for"} ${where})`);
            const held = heldObject(key, field, recordKeyNames, usedRecordNames);
            const recordKey = /\.<([^>]+)>/.exec(held?.path.slice(key.length) ?? "")?.[1] ?? recordKeyNames[key] ?? "key";
            if (recordKeyNames[key] !== undefined) usedRecordNames.add(key);
            const row: ReferenceRow = {
                section: section === "" && held ? key : section,
                key,
                type: typeText(field, recordKey === "node" ? "node name" : recordKey),
                default: defaultText(field),
                description: jsdoc,
                docKey: where,
                leaf: held === undefined,
            };
            rows.push(row);
            if (!held) continue;
            const documentedAt = canonical.get(held.object);
            if (documentedAt !== undefined && documentedAt !== held.path) {
                aliases[held.path] = documentedAt;
                row.description = [jsdoc, sameFieldsNote(held.path, documentedAt)].filter((s) => s !== "").join(" ");
                continue;
            }
            const childOwner = identity.get(held.object) ?? sources.propertyConsts.get(where) ?? { file: owner.file, name: `${owner.name}.${prop}` };
            visit(held.object, held.path, childOwner, row.section);
        }
    };
    visit(root, "", rootOwner, "");
    return { rows, aliases, missingDescriptions, usedRecordNames };
}

/** Builds the reference from ClusterConfigSchema, its source files and the secret key docs. */
export function buildConfigReference(): ConfigReference {
    const { rows, aliases, missingDescriptions, usedRecordNames } = describeSchema(ClusterConfigSchema, ROOT_SCHEMA_FILE, ROOT_SCHEMA_NAME, RECORD_KEY_NAMES);
    const unused = Object.keys(RECORD_KEY_NAMES).filter((k) => !usedRecordNames.has(k));
    if (unused.length > 0) throw new Error(`scripts/config-reference.ts: RECORD_KEY_NAMES names ${unused.join(", ")}, which is no mapping of the schema; remove or fix the entry`);

    const secrets: SecretRow[] = [];
    const missingSecretDocs: string[] = [];
    for (const key of SECRET_CONFIG_KEYS) {
        const doc = Object.hasOwn(SECRET_CONFIG_DOCS, key) ? SECRET_CONFIG_DOCS[key] : undefined;
        if (!doc || doc.usedFor.trim() === "" || doc.readBy.trim() === "") missingSecretDocs.push(key);
        secrets.push({ key, usedFor: doc?.usedFor ?? "", readBy: doc?.readBy ?? "" });
    }
    const staleSecretDocs = Object.keys(SECRET_CONFIG_DOCS).filter((k) => !SECRET_CONFIG_KEYS.includes(k));

    return { markdown: renderMarkdown(rows, secrets), rows, secrets, aliases, missingDescriptions, missingSecretDocs, staleSecretDocs };
}

// ---------------------------------------------------------------------------------------------
// Markdown

/**
 * A table cell: one line, `|` escaped; outside code spans, a `<` that would open an HTML tag and
 * an `&` that would start an entity are escaped, so the text shows as written.
 */
function cell(text: string): string {
    return text
        .replace(/\s+/g, " ")
        .split(/(`+[^`]*`+)/)
        .map((part, i) => (i % 2 === 1 ? part : part.replace(/&(?=#?[A-Za-z0-9]+;)/g, "&amp;").replace(/<(?=\/?[A-Za-z][A-Za-z0-9-]*(\s|\/?>))/g, "&lt;")))
        .join("")
        .replace(/\|/g, "\\|")
        .trim();
}

function table(header: string[], body: string[][]): string[] {
    return [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`, ...body.map((r) => `| ${r.map(cell).join(" | ")} |`)];
}

function renderMarkdown(rows: ReferenceRow[], secrets: SecretRow[]): string {
    const lines: string[] = [
        "<!-- Generated by scripts/config-reference.ts from the zod schema (lib/config/schema.ts, modules/*/config.ts) and its JSDoc. Do not edit: change the schema or its comments, then run `npm run docs:config`. -->",
        "",
        "Every key goes under `opke:` in `Pulumi.<stack>.yaml`. In key paths, `[]` is an entry of a list and `<node>` a node name used as a mapping key. " +
            "Default: *required* when the key must be set, — when it may be left out and has no default, *field defaults* when a block defaults to the defaults of its fields.",
    ];
    const sections: string[] = [];
    for (const r of rows) if (!sections.includes(r.section)) sections.push(r.section);
    for (const section of sections) {
        lines.push("", section === "" ? "### Top-level settings" : `### \`${section}\``, "");
        const body = rows
            .filter((r) => r.section === section)
            .map((r) => [code(r.key), r.type, r.default === "required" || r.default === "field defaults" ? `*${r.default}*` : r.default, r.description]);
        lines.push(...table(["key", "type", "default", "description"], body));
    }
    lines.push(
        "",
        "### Secret config keys",
        "",
        "Not part of the schema: set each with `pulumi config set --secret opke:<key>`; the program reads them as secret Outputs, so they never reach the rendered files in plain text.",
        "",
    );
    lines.push(...table(["key", "used for", "read by"], secrets.map((s) => [code(`opke:${s.key}`), s.usedFor, s.readBy === "" ? "" : code(s.readBy)])));
    return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// The marked block in a Markdown file

function markerPositions(text: string, file: string): { start: number; end: number } {
    const start = text.indexOf(START_MARKER);
    const end = text.indexOf(END_MARKER);
    if (start < 0 || end < 0 || end < start) {
        throw new Error(`${file}: has no ${START_MARKER} … ${END_MARKER} block; add the two marker lines (start before end) where the configuration reference belongs`);
    }
    if (text.indexOf(START_MARKER, start + 1) >= 0 || text.indexOf(END_MARKER, end + 1) >= 0) {
        throw new Error(`${file}: has more than one ${START_MARKER} or ${END_MARKER}; keep exactly one pair`);
    }
    return { start: start + START_MARKER.length, end };
}

/** Whether `text` holds the marker pair. */
export function hasMarkers(text: string): boolean {
    return text.includes(START_MARKER) && text.includes(END_MARKER);
}

/** The text between the markers (throws naming `file` when they are missing). */
export function extractBlock(text: string, file: string): string {
    const { start, end } = markerPositions(text, file);
    return text.slice(start, end);
}

/** What the text between the markers must be for `markdown`. */
export function blockFor(markdown: string): string {
    return `\n${markdown}`;
}

/** `text` with the block between the markers replaced by `markdown`. */
export function replaceBlock(text: string, markdown: string, file: string): string {
    const { start, end } = markerPositions(text, file);
    return text.slice(0, start) + blockFor(markdown) + text.slice(end);
}

/** A one-line hint at the first difference between the block found and the expected one. */
export function staleHint(found: string, expected: string): string {
    const a = found.split("\n");
    const b = expected.split("\n");
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    const show = (s: string | undefined): string => (s === undefined ? "(end of block)" : JSON.stringify(s.length > 160 ? `${s.slice(0, 160)}…` : s));
    return `first difference at line ${i + 1} of the block: expected ${show(b[i])}, found ${show(a[i])}`;
}

const USAGE = "usage: node -r ts-node/register/transpile-only scripts/config-reference.ts [--write <file> | --check <file>]";

export function main(argv: string[]): number {
    const [option, file, ...rest] = argv;
    if (rest.length > 0 || (option !== undefined && !["--write", "--check"].includes(option)) || (option !== undefined && file === undefined)) {
        process.stderr.write(`${USAGE}\n`);
        return 2;
    }
    const ref = buildConfigReference();
    for (const m of ref.missingDescriptions) process.stderr.write(`warning: no description for ${m}\n`);
    for (const k of ref.missingSecretDocs) process.stderr.write(`warning: secret config key ${k} has no entry in SECRET_CONFIG_DOCS (lib/config/load.ts)\n`);
    if (option === undefined) {
        process.stdout.write(ref.markdown);
        return 0;
    }
    const target = path.resolve(file as string);
    let text: string;
    try {
        text = fs.readFileSync(target, "utf8");
    } catch (e) {
        process.stderr.write(`${file}: cannot be read (${(e as Error).message})\n`);
        return 1;
    }
    try {
        const found = extractBlock(text, file as string);
        const expected = blockFor(ref.markdown);
        if (option === "--check") {
            if (found === expected) {
                process.stdout.write(`${file}: the configuration reference is up to date\n`);
                return 0;
            }
            process.stderr.write(`${file}: the configuration reference is stale (${staleHint(found, expected)}); run npm run docs:config\n`);
            return 1;
        }
        if (found === expected) {
            process.stdout.write(`${file}: the configuration reference is up to date\n`);
            return 0;
        }
        fs.writeFileSync(target, replaceBlock(text, ref.markdown, file as string));
        process.stdout.write(`${file}: configuration reference written (${ref.rows.length} keys, ${ref.secrets.length} secret keys)\n`);
        return 0;
    } catch (e) {
        process.stderr.write(`${(e as Error).message}\n`);
        return 1;
    }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
