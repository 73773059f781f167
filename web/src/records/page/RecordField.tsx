import { type FormEvent, type KeyboardEvent, useEffect, useRef, useState } from "react";
import { display, type InputKind, inputText, parseInput } from "./fieldValue";
import type { FieldSpec } from "./types";
import { Conflict } from "./useRecordSave";

interface Props<R, B> {
  spec: FieldSpec<R, B>;
  record: R;
  save: (spec: FieldSpec<R, B>, value: unknown) => Promise<void>;
}

function rawValue(kind: InputKind, form: FormData): string | string[] | boolean {
  if (kind === "checkbox") return form.get("value") === "on";
  if (kind === "multiselect") return form.getAll("value").map(String);
  return String(form.get("value") ?? "");
}

/** A field edited where it is shown (a dt and its dd): a button showing the value opens an input
 * of the field's type; Save sends it, Escape or Cancel closes it. A 412 closes the editor so that
 * the other person's value shows, with a message saying so. */
export function RecordField<R, B>({ spec, record, save }: Props<R, B>) {
  const [editing, setEditing] = useState(false);
  const [pending, setPending] = useState(false);
  // A conflict's message stays while the field is edited again (it says what the other person saved).
  const [message, setMessage] = useState<{ text: string; conflict: boolean } | null>(null);
  const labelId = `f-${spec.key}`;
  const valueButton = useRef<HTMLButtonElement>(null);
  const wasEditing = useRef(false);
  useEffect(() => {
    if (!editing && wasEditing.current) valueButton.current?.focus(); // back where the keyboard was
    wasEditing.current = editing;
  }, [editing]);
  const value = spec.read(record);
  const shown = display(value, spec.kind);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const parsed = parseInput(spec.kind, rawValue(spec.kind, new FormData(event.currentTarget)));
    if ("error" in parsed) {
      setMessage({ text: parsed.error, conflict: false });
      return;
    }
    setPending(true);
    try {
      await save(spec, parsed.value);
      setEditing(false);
      setMessage(null);
    } catch (err) {
      setMessage({ text: err instanceof Error ? err.message : String(err), conflict: err instanceof Conflict });
      if (err instanceof Conflict) setEditing(false); // show their value, not the stale draft
    } finally {
      setPending(false);
    }
  }

  function escape(event: KeyboardEvent) {
    if (event.key === "Escape") setEditing(false);
  }

  return (
    <>
      <dt id={labelId}>{spec.label}</dt>
      <dd>
        {editing ? (
          <form onSubmit={(e) => void submit(e)} onKeyDown={escape} className="inline" noValidate>
            <FieldInput kind={spec.kind} value={value} options={spec.options ?? []} labelId={labelId} />
            <button type="submit" disabled={pending}>Save</button>
            <button type="button" className="link" onClick={() => { setEditing(false); setMessage(null); }}>Cancel</button>
          </form>
        ) : (
          <button ref={valueButton} type="button" className="value" onClick={() => { setEditing(true); setMessage((m) => (m?.conflict ? m : null)); }}
            aria-label={`Edit ${spec.label}: ${shown === "—" ? "empty" : shown}`}>
            {shown}
          </button>
        )}
        {message && <p role="alert" className="error">{message.text}</p>}
      </dd>
    </>
  );
}

const INPUT_TYPES: Partial<Record<InputKind, string>> = {
  email: "email", tel: "tel", url: "url", number: "number", date: "date", datetime: "datetime-local",
};

function FieldInput({ kind, value, options, labelId }: { kind: InputKind; value: unknown; options: readonly string[]; labelId: string }) {
  if (kind === "checkbox") return <input type="checkbox" name="value" defaultChecked={value === true} aria-labelledby={labelId} autoFocus />;
  if (kind === "select" || kind === "multiselect") {
    const multiple = kind === "multiselect";
    const chosen = Array.isArray(value) ? value.map(String) : value == null ? "" : String(value);
    return (
      <select name="value" multiple={multiple} defaultValue={multiple ? (Array.isArray(chosen) ? chosen : []) : chosen} aria-labelledby={labelId} autoFocus>
        {!multiple && <option value="">—</option>}
        {options.map((o) => <option key={o} value={o}>{o.replaceAll("_", " ")}</option>)}
      </select>
    );
  }
  return (
    <input name="value" type={INPUT_TYPES[kind] ?? "text"} step={kind === "number" ? "any" : undefined}
      placeholder={kind === "money" ? "12.50 EUR" : undefined} defaultValue={inputText(value, kind)} aria-labelledby={labelId} autoFocus />
  );
}
