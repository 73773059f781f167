// The API's filter language (API.md "Filter and sort"; libs/crm_query/parser.py is the reference)
// read and written in the browser: a tokenizer and parser into the same small AST, and a filter
// *builder model* (OR of AND groups of conditions) that renders to filter text and is read back
// from text when the text has that shape. Pure: no React, no requests. The API stays the judge of
// what a filter means; this only writes what the user composed and shows what they typed.

export type FieldType =
  | "text" | "number" | "bool" | "date" | "datetime" | "enum" | "multi_enum" | "email" | "phone" | "url" | "money"
  | "uuid" | "tags";

export interface FilterField {
  key: string;
  label: string;
  type: FieldType;
  options?: readonly string[] | null | undefined;
}

export type Operator =
  | "=" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in" | "contains" | "starts_with" | "is null" | "is not null";

export interface Condition {
  field: string;
  op: Operator;
  /** One value for the binary operators, several for (not) in, none for is (not) null. */
  values: string[];
}

/** Conditions in a group are joined with `and`; groups with `or`. */
export interface FilterModel {
  groups: Condition[][];
}

// --- AST ----------------------------------------------------------------------------------------

export type ValueKind = "string" | "number" | "bool";
export interface Literal { kind: ValueKind; value: string }
export interface ComparisonNode { type: "comparison"; field: string; op: Operator; values: Literal[] }
export interface AndNode { type: "and"; items: FilterNode[] }
export interface OrNode { type: "or"; items: FilterNode[] }
export interface NotNode { type: "not"; item: FilterNode }
export type FilterNode = ComparisonNode | AndNode | OrNode | NotNode;

export class FilterSyntaxError extends Error {}

// --- operators per type (compile.py _ALLOWED, with the negative forms) -----------------------------

const ORDERING: Operator[] = ["<", "<=", ">", ">="];
const EQUALITY: Operator[] = ["=", "!=", "in", "not in"];
const NULLS: Operator[] = ["is null", "is not null"];
const TEXT_OPS: Operator[] = ["contains", "starts_with", ...EQUALITY, ...ORDERING, ...NULLS];

export function operatorsFor(type: FieldType): Operator[] {
  switch (type) {
    case "text": case "email": case "phone": case "url": return TEXT_OPS;
    case "number": case "money": case "date": case "datetime": return [...EQUALITY, ...ORDERING, ...NULLS];
    case "uuid": case "enum": return [...EQUALITY, ...NULLS];
    case "bool": return ["=", ...NULLS];
    case "multi_enum": case "tags": return ["contains", "in", "not in", ...NULLS];
  }
}

export const OPERATOR_LABELS: Record<Operator, string> = {
  "=": "is", "!=": "is not", "<": "less than", "<=": "at most", ">": "greater than", ">=": "at least",
  in: "is one of", "not in": "is none of", contains: "contains", starts_with: "starts with",
  "is null": "is empty", "is not null": "is not empty",
};

export function arity(op: Operator): "none" | "one" | "many" {
  if (op === "is null" || op === "is not null") return "none";
  return op === "in" || op === "not in" ? "many" : "one";
}

// --- tokens -------------------------------------------------------------------------------------

type TokenKind = "ident" | "keyword" | "string" | "number" | "op" | "(" | ")" | "," | "end";
interface Token { kind: TokenKind; text: string; position: number }

const KEYWORDS = new Set(["and", "or", "not", "in", "is", "null", "true", "false", "contains", "starts_with"]);
const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /-?[0-9]+(?:\.[0-9]+)?/y;
const OPERATOR = /!=|<=|>=|=|<|>/y;
const SPACE = /\s+/y;

function sticky(re: RegExp, text: string, at: number): string | null {
  re.lastIndex = at;
  const m = re.exec(text);
  return m ? m[0] : null;
}

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const space = sticky(SPACE, text, i);
    if (space) {
      i += space.length;
      continue;
    }
    const ch = text.charAt(i);
    if (ch === "(" || ch === ")" || ch === ",") {
      tokens.push({ kind: ch, text: ch, position: i + 1 });
      i += 1;
    } else if (ch === "'" || ch === '"') {
      const out: string[] = [];
      let j = i + 1;
      let closed = false;
      while (j < text.length) {
        const c = text.charAt(j);
        if (c === ch) {
          if (text.charAt(j + 1) === ch) {
            out.push(ch);
            j += 2;
            continue;
          }
          closed = true;
          break;
        }
        out.push(c);
        j += 1;
      }
      if (!closed) throw new FilterSyntaxError(`Unterminated string starting at position ${i + 1}`);
      tokens.push({ kind: "string", text: out.join(""), position: i + 1 });
      i = j + 1;
    } else if (sticky(NUMBER, text, i) !== null) {
      const num = sticky(NUMBER, text, i) ?? "";
      const next = text.charAt(i + num.length);
      if (next && /[A-Za-z0-9_.]/.test(next)) throw new FilterSyntaxError(`Invalid number at position ${i + 1}`);
      tokens.push({ kind: "number", text: num, position: i + 1 });
      i += num.length;
    } else if (sticky(IDENT, text, i) !== null) {
      const word = sticky(IDENT, text, i) ?? "";
      const lower = word.toLowerCase();
      tokens.push(KEYWORDS.has(lower) ? { kind: "keyword", text: lower, position: i + 1 } : { kind: "ident", text: word, position: i + 1 });
      i += word.length;
    } else if (sticky(OPERATOR, text, i) !== null) {
      const op = sticky(OPERATOR, text, i) ?? "";
      tokens.push({ kind: "op", text: op, position: i + 1 });
      i += op.length;
    } else {
      throw new FilterSyntaxError(`Unexpected character '${ch}' at position ${i + 1}`);
    }
  }
  tokens.push({ kind: "end", text: "", position: text.length + 1 });
  return tokens;
}

// --- parser -------------------------------------------------------------------------------------

/** The AST of a filter; throws FilterSyntaxError naming the problem and its position. */
export function parseFilter(text: string): FilterNode {
  if (!text.trim()) throw new FilterSyntaxError("The filter is empty");
  const tokens = tokenize(text);
  let pos = 0;
  const current = (): Token => tokens[Math.min(pos, tokens.length - 1)] as Token;
  const advance = (): Token => {
    const t = current();
    if (t.kind !== "end") pos += 1;
    return t;
  };
  const isKeyword = (word: string, offset = 0): boolean => {
    const t = tokens[Math.min(pos + offset, tokens.length - 1)] as Token;
    return t.kind === "keyword" && t.text === word;
  };
  const unexpected = (expected: string): FilterSyntaxError => {
    const t = current();
    const what = t.kind === "end" ? "end of filter" : `'${t.text}'`;
    return new FilterSyntaxError(`Unexpected ${what} at position ${t.position}; expected ${expected}`);
  };
  const value = (): Literal | null => {
    const t = current();
    if (t.kind === "string") return advance(), { kind: "string", value: t.text };
    if (t.kind === "number") return advance(), { kind: "number", value: t.text };
    if (t.kind === "keyword" && (t.text === "true" || t.text === "false")) return advance(), { kind: "bool", value: t.text };
    if (isKeyword("null")) return advance(), null;
    throw unexpected("a value: a quoted string, a number, true, false or null");
  };
  const comparison = (): ComparisonNode => {
    const name = current();
    if (name.kind !== "ident") throw unexpected("a field name, 'not' or '('");
    advance();
    const t = current();
    if (t.kind === "op") {
      advance();
      const v = value();
      if (v === null) {
        if (t.text !== "=" && t.text !== "!=") throw new FilterSyntaxError(`null can only be compared with = or != at position ${t.position}`);
        return { type: "comparison", field: name.text, op: t.text === "=" ? "is null" : "is not null", values: [] };
      }
      return { type: "comparison", field: name.text, op: t.text as Operator, values: [v] };
    }
    if (isKeyword("in") || (isKeyword("not") && isKeyword("in", 1))) {
      const negated = isKeyword("not");
      advance();
      if (negated) advance();
      if (current().kind !== "(") throw unexpected("'(' to open the list");
      advance();
      const values: Literal[] = [];
      for (;;) {
        const v = value();
        if (v === null) throw new FilterSyntaxError("null is not allowed in an 'in' list (use 'is null')");
        values.push(v);
        if (current().kind === ",") {
          advance();
          continue;
        }
        if (current().kind !== ")") throw unexpected("',' or ')'");
        advance();
        return { type: "comparison", field: name.text, op: negated ? "not in" : "in", values };
      }
    }
    if (isKeyword("is")) {
      advance();
      const negated = isKeyword("not");
      if (negated) advance();
      if (!isKeyword("null")) throw unexpected("'null'");
      advance();
      return { type: "comparison", field: name.text, op: negated ? "is not null" : "is null", values: [] };
    }
    if (isKeyword("contains") || isKeyword("starts_with")) {
      const op = advance().text as Operator;
      const v = value();
      if (v === null) throw new FilterSyntaxError(`'${op}' needs a value, not null`);
      return { type: "comparison", field: name.text, op, values: [v] };
    }
    throw unexpected(`an operator after field '${name.text}'`);
  };
  const unary = (): FilterNode => {
    if (current().kind === "(") {
      advance();
      const inner = orExpr();
      if (current().kind !== ")") throw unexpected("')'");
      advance();
      return inner;
    }
    if (isKeyword("not")) {
      advance();
      return { type: "not", item: unary() };
    }
    return comparison();
  };
  const andExpr = (): FilterNode => {
    const items = [unary()];
    while (isKeyword("and")) {
      advance();
      items.push(unary());
    }
    return items.length === 1 ? (items[0] as FilterNode) : { type: "and", items };
  };
  const orExpr = (): FilterNode => {
    const items = [andExpr()];
    while (isKeyword("or")) {
      advance();
      items.push(andExpr());
    }
    return items.length === 1 ? (items[0] as FilterNode) : { type: "or", items };
  };
  const node = orExpr();
  if (current().kind !== "end") throw unexpected("'and', 'or' or the end of the filter");
  return node;
}

// --- rendering ----------------------------------------------------------------------------------

export function quote(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

const NUMERIC = /^-?[0-9]+(\.[0-9]+)?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function validDate(text: string): boolean {
  if (!DATE.test(text)) return false;
  const d = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === text;
}

/** One value as a literal for this field's type, or the reason it cannot be one. */
export function renderValue(field: FilterField | undefined, raw: string): { text: string } | { problem: string } {
  const value = raw.trim();
  const label = field?.label ?? "The value";
  if (value === "") return { problem: `${label}: the value is empty (choose "is empty" to find missing values)` };
  switch (field?.type) {
    case "number": case "money":
      return NUMERIC.test(value) ? { text: value } : { problem: `${label}: "${value}" is not a number` };
    case "bool":
      return value === "true" || value === "false" ? { text: value } : { problem: `${label}: choose true or false` };
    case "date":
      return validDate(value) ? { text: quote(value) } : { problem: `${label}: "${value}" is not a date (YYYY-MM-DD)` };
    case "datetime":
      return DATETIME.test(value) && validDate(value.slice(0, 10))
        ? { text: quote(value) } : { problem: `${label}: "${value}" is not a date (YYYY-MM-DD) or ISO date-time` };
    default:
      return { text: quote(value) };
  }
}

/** A condition as text, or the reasons it is incomplete. */
export function renderCondition(condition: Condition, fields: readonly FilterField[]): { text: string } | { problem: string } {
  const field = fields.find((f) => f.key === condition.field);
  if (!condition.field) return { problem: "Choose a field" };
  const kind = arity(condition.op);
  if (kind === "none") return { text: `${condition.field} ${condition.op}` };
  const values = kind === "one" ? condition.values.slice(0, 1) : condition.values.filter((v) => v.trim() !== "");
  if (values.length === 0) return { problem: `${field?.label ?? condition.field}: the value is empty (choose "is empty" to find missing values)` };
  const rendered: string[] = [];
  for (const v of values) {
    const r = renderValue(field, v);
    if ("problem" in r) return r;
    rendered.push(r.text);
  }
  if (kind === "many") return { text: `${condition.field} ${condition.op} (${rendered.join(", ")})` };
  return { text: `${condition.field} ${condition.op} ${rendered[0] ?? ""}` };
}

/** The builder's filter text: complete conditions only; the others are named in `problems`. */
export function renderFilter(model: FilterModel, fields: readonly FilterField[]): { text: string; problems: string[] } {
  const problems: string[] = [];
  const groups: string[][] = [];
  for (const group of model.groups) {
    const parts: string[] = [];
    for (const condition of group) {
      if (!condition.field) continue; // a row not started yet says nothing
      const r = renderCondition(condition, fields);
      if ("problem" in r) problems.push(r.problem);
      else parts.push(r.text);
    }
    if (parts.length) groups.push(parts);
  }
  const text = groups.length === 1
    ? (groups[0] ?? []).join(" and ")
    : groups.map((parts) => (parts.length > 1 ? `(${parts.join(" and ")})` : (parts[0] ?? ""))).join(" or ");
  return { text, problems };
}

// --- reading text back into the builder --------------------------------------------------------

export type BuilderReading = { ok: true; model: FilterModel } | { ok: false; reason: string };

function toCondition(node: FilterNode, fields: readonly FilterField[]): Condition | string {
  if (node.type === "not") return "it uses 'not'";
  if (node.type !== "comparison") return "it nests 'and' and 'or' more deeply than groups of conditions";
  const field = fields.find((f) => f.key === node.field);
  if (!field) return `it names the field '${node.field}', which the builder does not offer`;
  if (!operatorsFor(field.type).includes(node.op)) return `'${OPERATOR_LABELS[node.op]}' does not apply to ${field.label}`;
  const values = node.values.map((v) => v.value);
  if (arity(node.op) === "many" && values.some((v) => v.includes(","))) return "a listed value contains a comma";
  return { field: node.field, op: node.op, values };
}

/** The builder model of a filter text, when the text is groups of conditions joined with `or`
 * and every condition is one the builder can show and write back; else why not. */
export function readFilter(text: string, fields: readonly FilterField[]): BuilderReading {
  if (!text.trim()) return { ok: true, model: { groups: [] } };
  let node: FilterNode;
  try {
    node = parseFilter(text);
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
  const groupNodes = node.type === "or" ? node.items : [node];
  const groups: Condition[][] = [];
  for (const g of groupNodes) {
    const items = g.type === "and" ? g.items : [g];
    const group: Condition[] = [];
    for (const item of items) {
      const c = toCondition(item, fields);
      if (typeof c === "string") return { ok: false, reason: c };
      group.push(c);
    }
    groups.push(group);
  }
  const model = { groups };
  const { problems } = renderFilter(model, fields);
  if (problems.length) return { ok: false, reason: problems.join("; ") };
  return { ok: true, model };
}

/** An id list as a filter (`id in (...)`), e.g. to export a selection. */
export function idsFilter(ids: readonly string[]): string {
  return `id in (${ids.map(quote).join(", ")})`;
}
