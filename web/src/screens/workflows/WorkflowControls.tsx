// The editor's compound controls: an event type (the common ones, or any other typed), a record
// type, a jump to a later step, field/value rows, and a choice of users. Each is labelled and shows
// its own errors (the API's, keyed under the field).
import { useState } from "react";
import { useDirectory } from "../../api/directory";
import { Field } from "../../components/Field";
import { SelectField } from "../settings/Controls";
import type { FieldErrors } from "../settings/problem";
import { eventPhrase, type Json, parseList, parseValue, RECORD_TYPES, valueText } from "./definition";
import { fieldErrors } from "./workflowErrors";

export const END = "end";

interface EventProps {
  label: string;
  value: string;
  events: readonly string[];
  errors: string[] | undefined;
  onChange: (value: string) => void;
}

/** A select of the common event types, with "another" revealing a text box for any other type. */
export function EventTypeField({ label, value, events, errors, onChange }: EventProps) {
  const [other, setOther] = useState(!events.includes(value));
  return (
    <>
      <SelectField label={label} value={other ? "" : value} errors={other ? undefined : errors}
        onChange={(e) => {
          setOther(e.target.value === "");
          if (e.target.value) onChange(e.target.value);
        }}>
        {events.map((ev) => <option key={ev} value={ev}>{ev} ({eventPhrase(ev)})</option>)}
        <option value="">Another event type…</option>
      </SelectField>
      {other && <Field label={`${label} (type it)`} value={value} placeholder="crm.deal.stage_changed" errors={errors}
        onChange={(e) => onChange(e.target.value.trim())} />}
    </>
  );
}

interface RecordTypeProps {
  value: unknown;
  errors: string[] | undefined;
  /** The label of "no record type", where a trigger may have none. */
  none?: string;
  onChange: (value: string | undefined) => void;
}

export function RecordTypeField({ value, errors, none, onChange }: RecordTypeProps) {
  return (
    <SelectField label="Record type" value={typeof value === "string" ? value : ""} errors={errors}
      onChange={(e) => onChange(e.target.value || undefined)}>
      {none !== undefined && <option value="">{none}</option>}
      {RECORD_TYPES.map((r) => <option key={r} value={r}>{r}</option>)}
    </SelectField>
  );
}

interface JumpProps {
  label: string;
  value: unknown;
  /** The ids of the steps after this one (jumps go forward only). */
  later: readonly string[];
  /** What leaving it blank means, e.g. "The next step". */
  fallback: string;
  errors: string[] | undefined;
  onChange: (value: string | undefined) => void;
}

/** Where a run goes next: a later step, or the end. A target the list lacks is still shown. */
export function JumpField({ label, value, later, fallback, errors, onChange }: JumpProps) {
  const current = typeof value === "string" ? value : "";
  const targets = current && current !== END && !later.includes(current) ? [...later, current] : later;
  return (
    <SelectField label={label} value={current} errors={errors} onChange={(e) => onChange(e.target.value || undefined)}>
      <option value="">{fallback}</option>
      {targets.map((id) => <option key={id} value={id}>Step {id}</option>)}
      <option value={END}>End the run</option>
    </SelectField>
  );
}

interface Row {
  key: number;
  name: string;
  text: string;
}

function rowsOf(value: Json): Row[] {
  return Object.entries(value).map(([name, v], i) => ({ key: i, name, text: valueText(v) }));
}

function objectOf(rows: readonly Row[]): Json {
  const out: Json = {};
  for (const row of rows) if (row.name.trim()) out[row.name.trim()] = parseValue(row.text);
  return out;
}

interface RowsProps {
  legend: string;
  /** Names each row's boxes: "Field" gives "Field 1 name" and "Field 1 value". */
  noun: string;
  value: Json;
  /** The errors of the whole object (its own under ""), and of each name. */
  errors: FieldErrors;
  hint: string;
  onChange: (value: Json) => void;
}

/** Name/value rows of an object (update_record's fields, changed_to); a value reads as JSON where it is JSON. */
export function KeyValueRows({ legend, noun, value, errors, hint, onChange }: RowsProps) {
  // The rows keep what is typed (a name still blank, a value half written); the object follows them.
  const [rows, setRows] = useState<Row[]>(() => rowsOf(value));
  function update(next: Row[]) {
    setRows(next);
    onChange(objectOf(next));
  }
  const own = errors[""];
  return (
    <fieldset className="pairs">
      <legend>{legend}</legend>
      <p className="muted">{hint}</p>
      {rows.map((row, i) => (
        <div className="pair-row" key={row.key} data-row={row.name}>
          <Field label={`${noun} ${i + 1} name`} value={row.name} errors={row.name ? fieldErrors(errors, row.name.trim()) : undefined}
            onChange={(e) => update(rows.map((r) => (r.key === row.key ? { ...r, name: e.target.value } : r)))} />
          <Field label={`${noun} ${i + 1} value`} value={row.text}
            onChange={(e) => update(rows.map((r) => (r.key === row.key ? { ...r, text: e.target.value } : r)))} />
          <button type="button" className="secondary" aria-label={`Remove ${noun.toLowerCase()} ${i + 1}${row.name ? ` (${row.name})` : ""}`}
            onClick={() => update(rows.filter((r) => r.key !== row.key))}>Remove</button>
        </div>
      ))}
      {own && <p className="error">{own.join(" ")}</p>}
      <button type="button" className="secondary"
        onClick={() => update([...rows, { key: Math.max(-1, ...rows.map((r) => r.key)) + 1, name: "", text: "" }])}>
        Add a {noun.toLowerCase()}
      </button>
    </fieldset>
  );
}

interface UsersProps {
  legend: string;
  value: unknown;
  /** Offer "owner": the run's record's owner. */
  owner: boolean;
  errors: string[] | undefined;
  onChange: (value: string[]) => void;
}

/** Checkboxes of the tenant's users (and the record's owner); ids not in the directory stay listed. */
export function UsersField({ legend, value, owner, errors, onChange }: UsersProps) {
  const people = useDirectory();
  const chosen = Array.isArray(value) ? value.map(String) : [];
  const known = (people.data ?? []).map((u) => ({ id: u.id ?? "", label: u.name ? `${u.name} (${u.email ?? ""})` : u.email ?? "" }));
  const options = [
    ...(owner ? [{ id: "owner", label: "The record's owner" }] : []),
    ...known,
    ...chosen.filter((id) => id !== "owner" && !known.some((u) => u.id === id)).map((id) => ({ id, label: `User ${id}` })),
  ];
  return (
    <fieldset className="choices">
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={o.id} className="check">
          <input type="checkbox" checked={chosen.includes(o.id)}
            onChange={(e) => onChange(e.target.checked ? [...chosen, o.id] : chosen.filter((id) => id !== o.id))} /> {o.label}
        </label>
      ))}
      {people.isPending && <span className="muted">Loading the users…</span>}
      {errors && <p className="error">{errors.join(" ")}</p>}
    </fieldset>
  );
}

interface ListProps {
  label: string;
  value: unknown;
  placeholder?: string;
  errors: string[] | undefined;
  /** The list as typed; an empty one is `undefined` where `optional` (the key is left out). */
  onChange: (value: string[] | undefined) => void;
  optional?: boolean;
}

/** A list typed as comma-separated text (tags, field names); the text is kept as typed. */
export function ListField({ label, value, placeholder, errors, onChange, optional = false }: ListProps) {
  const [textValue, setText] = useState(() => (Array.isArray(value) ? value.map(String).join(", ") : ""));
  return (
    <Field label={label} value={textValue} placeholder={placeholder} errors={errors}
      onChange={(e) => {
        setText(e.target.value);
        const items = parseList(e.target.value);
        onChange(optional && !items.length ? undefined : items);
      }} />
  );
}
