import { useEffect, useRef, useState } from "react";
import {
  arity,
  type Condition,
  type FilterField,
  type FilterModel,
  OPERATOR_LABELS,
  type Operator,
  operatorsFor,
  readFilter,
  renderFilter,
} from "../filter/filterText";

interface Props {
  /** The filter text being edited (the raw field's draft). */
  text: string;
  fields: FilterField[];
  onChange: (text: string) => void;
}

const blank = (fields: FilterField[]): Condition => {
  const first = fields[0];
  return { field: first?.key ?? "", op: first ? (operatorsFor(first.type)[0] ?? "=") : "=", values: [""] };
};

/** Rows of field / operator / value, joined with AND, in groups joined with OR. It writes the
 * filter text; text typed by hand is read back when the builder can show it. */
export function FilterBuilder({ text, fields, onChange }: Props) {
  const [model, setModel] = useState<FilterModel>({ groups: [] });
  const [reason, setReason] = useState<string | null>(null);
  const emitted = useRef<string | null>(null);

  useEffect(() => {
    if (text === emitted.current) return; // our own text: keep the rows as they are (incomplete ones too)
    const read = readFilter(text, fields);
    if (read.ok) {
      setModel(read.model);
      setReason(null);
    } else {
      setReason(read.reason);
    }
  }, [text, fields]);

  function update(next: FilterModel) {
    const groups = next.groups.filter((g) => g.length > 0);
    setModel({ groups });
    setReason(null);
    const rendered = renderFilter({ groups }, fields).text;
    emitted.current = rendered;
    onChange(rendered);
  }

  function change(g: number, i: number, patch: Partial<Condition>) {
    update({
      groups: model.groups.map((group, gi) =>
        gi !== g ? group : group.map((c, ci) => {
          if (ci !== i) return c;
          const next = { ...c, ...patch };
          if (patch.field !== undefined) {
            const type = fields.find((f) => f.key === patch.field)?.type ?? "text";
            if (!operatorsFor(type).includes(next.op)) next.op = operatorsFor(type)[0] ?? "=";
            next.values = [""];
          }
          return next;
        }),
      ),
    });
  }

  const problems = renderFilter(model, fields).problems;
  let n = 0;
  return (
    <div className="builder" role="group" aria-labelledby="builder-title">
      <h2 id="builder-title" className="small">Conditions</h2>
      {reason !== null ? (
        <div>
          <p className="muted">The builder can only show the raw text of this filter: {reason}.</p>
          <button type="button" className="secondary" onClick={() => update({ groups: [[blank(fields)]] })}>
            Start over in the builder
          </button>
        </div>
      ) : (
        <>
          {model.groups.map((group, g) => (
            <div key={g} className="builder-group">
              {g > 0 && <p className="or">or</p>}
              {group.map((condition, i) => {
                n += 1;
                return (
                  <ConditionRow key={i} n={n} first={i === 0} condition={condition} fields={fields}
                    onChange={(patch) => change(g, i, patch)}
                    onRemove={() => update({ groups: model.groups.map((gr, gi) => (gi === g ? gr.filter((_, ci) => ci !== i) : gr)) })} />
                );
              })}
              <button type="button" className="secondary" onClick={() =>
                update({ groups: model.groups.map((gr, gi) => (gi === g ? [...gr, blank(fields)] : gr)) })}>
                {`Add "and" condition${model.groups.length > 1 ? ` to group ${g + 1}` : ""}`}
              </button>
            </div>
          ))}
          <button type="button" className="secondary" onClick={() => update({ groups: [...model.groups, [blank(fields)]] })}>
            {model.groups.length === 0 ? "Add condition" : `Add "or" group`}
          </button>
          {problems.length > 0 && (
            <ul className="muted" aria-live="polite">
              {problems.map((p) => <li key={p}>Not applied yet: {p}</li>)}
            </ul>
          )}
        </>
      )}
    </div>
  );
}

interface RowProps {
  n: number;
  first: boolean;
  condition: Condition;
  fields: FilterField[];
  onChange: (patch: Partial<Condition>) => void;
  onRemove: () => void;
}

function ConditionRow({ n, first, condition, fields, onChange, onRemove }: RowProps) {
  const field = fields.find((f) => f.key === condition.field);
  const ops = operatorsFor(field?.type ?? "text");
  const kind = arity(condition.op);
  const id = `cond-${n}`;
  return (
    <div className="condition">
      <span className="and" aria-hidden="true">{first ? "where" : "and"}</span>
      <label className="sr-only" htmlFor={`${id}-field`}>Field {n}</label>
      <select id={`${id}-field`} value={condition.field} onChange={(e) => onChange({ field: e.currentTarget.value })}>
        {fields.map((f) => <option key={f.key} value={f.key}>{f.label}</option>)}
      </select>
      <label className="sr-only" htmlFor={`${id}-op`}>Operator {n}</label>
      <select id={`${id}-op`} value={condition.op} onChange={(e) => onChange({ op: e.currentTarget.value as Operator })}>
        {ops.map((op) => <option key={op} value={op}>{OPERATOR_LABELS[op]}</option>)}
      </select>
      {kind !== "none" && <ValueInput id={`${id}-value`} n={n} condition={condition} field={field} onChange={onChange} />}
      <button type="button" className="link" onClick={onRemove} aria-label={`Remove condition ${n}`}>Remove</button>
    </div>
  );
}

function ValueInput({ id, n, condition, field, onChange }: { id: string; n: number; condition: Condition; field: FilterField | undefined;
  onChange: (patch: Partial<Condition>) => void }) {
  const many = arity(condition.op) === "many";
  const value = many ? condition.values.join(", ") : (condition.values[0] ?? "");
  const set = (text: string) => onChange({ values: many ? text.split(",").map((v) => v.trimStart()) : [text] });
  const label = <label className="sr-only" htmlFor={id}>{many ? `Values ${n} (separated by commas)` : `Value ${n}`}</label>;
  if (!many && (field?.type === "bool" || (field?.type === "enum" && field.options))) {
    const options = field.type === "bool" ? ["true", "false"] : (field.options ?? []);
    return (
      <>
        {label}
        <select id={id} value={value} onChange={(e) => set(e.currentTarget.value)}>
          <option value="">Choose…</option>
          {options.map((o) => <option key={o} value={o}>{o}</option>)}
        </select>
      </>
    );
  }
  const type = !many && field?.type === "date" ? "date" : !many && (field?.type === "number" || field?.type === "money") ? "number" : "text";
  return (
    <>
      {label}
      <input id={id} type={type} value={value} step={type === "number" ? "any" : undefined} onChange={(e) => set(e.currentTarget.value)}
        placeholder={many ? "a, b, c" : field?.type === "datetime" ? "YYYY-MM-DD" : undefined} />
    </>
  );
}
