import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useSearchParams } from "react-router-dom";
import { CustomFieldEditor } from "./CustomFieldEditor";
import { CustomFieldNew } from "./CustomFieldNew";
import { ConfirmButton } from "../../components/ConfirmButton";
import { archiveProperty, listProperties, OBJECTS, type Property, type PropertyObject, TYPES, updateProperty } from "./propertiesApi";

function typeLabel(type: string | undefined): string {
  return TYPES.find((t) => t.value === type)?.label ?? type ?? "";
}

export default function CustomFields() {
  const [params, setParams] = useSearchParams();
  const object: PropertyObject = OBJECTS.find((o) => o.value === params.get("object"))?.value ?? "contacts";
  const client = useQueryClient();
  const key = ["properties", object];
  const fields = useQuery({ queryKey: key, queryFn: () => listProperties(object) });
  const [editing, setEditing] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const refresh = () => void client.invalidateQueries({ queryKey: key });
  const archive = useMutation({
    mutationFn: (field: Property) => archiveProperty(object, field),
    onSuccess: (_, field) => { setProblem(null); setNotice(`${field.label} deleted (its values are kept, hidden; restore it below).`); },
    onError: (e) => setProblem(e.message),
    onSettled: refresh,
  });
  const restore = useMutation({
    mutationFn: (field: Property) => updateProperty(object, field, { archived: false }),
    onSuccess: (field) => { setProblem(null); setNotice(`${field.label} restored.`); },
    onError: (e) => setProblem(e.message),
    onSettled: refresh,
  });
  const all = fields.data ?? [];
  const active = all.filter((f) => !f.archived_at);
  const archived = all.filter((f) => f.archived_at);
  const objectLabel = OBJECTS.find((o) => o.value === object)?.label ?? object;

  return (
    <section aria-labelledby="fields-title">
      <h2 id="fields-title">Custom fields</h2>
      <div className="tabs" role="group" aria-label="Which records">
        {OBJECTS.map((o) => (
          <button key={o.value} type="button" aria-pressed={o.value === object}
            onClick={() => { setEditing(null); setNotice(null); setProblem(null); setParams({ object: o.value }); }}>
            {o.label}
          </button>
        ))}
      </div>
      <p role="status">{notice}</p>
      {problem && <p role="alert" className="error">{problem}</p>}
      {fields.error && <p role="alert" className="error">{fields.error.message}</p>}
      <h3>{objectLabel}: their fields</h3>
      {fields.isPending && <p role="status">Loading…</p>}
      {!fields.isPending && active.length === 0 && <p className="muted">No custom fields on {objectLabel.toLowerCase()} yet.</p>}
      <ul className="inbox settings-list">
        {active.map((f) => (
          <li key={f.key} data-field={f.key}>
            <span className="grow">
              <strong>{f.label}</strong> <span className="muted">{f.key} · {typeLabel(f.type)}{f.required ? " · required" : ""}</span>
              {f.options?.length ? <span className="muted block">Options: {f.options.join(", ")}</span> : null}
            </span>
            <button type="button" className="secondary" aria-expanded={editing === f.key} aria-label={`Edit ${f.label}`}
              onClick={() => setEditing(editing === f.key ? null : f.key ?? null)}>Edit</button>
            <ConfirmButton label="Delete" what={f.label ?? ""} busy={archive.isPending}
              question={`Delete ${f.label}? Records keep their values, hidden.`} onConfirm={() => archive.mutate(f)} />
            {editing === f.key && (
              <CustomFieldEditor object={object} field={f} onDone={(saved) => {
                setEditing(null);
                setNotice(`${saved.label} saved.`);
                refresh();
              }} />
            )}
          </li>
        ))}
      </ul>
      {archived.length > 0 && (
        <>
          <h3>Deleted fields</h3>
          <ul className="inbox settings-list">
            {archived.map((f) => (
              <li key={f.key} data-archived-field={f.key}>
                <span className="grow">{f.label} <span className="muted">{f.key}</span></span>
                <button type="button" className="secondary" aria-label={`Restore ${f.label}`} onClick={() => restore.mutate(f)}>Restore</button>
              </li>
            ))}
          </ul>
        </>
      )}
      <CustomFieldNew object={object} objectLabel={objectLabel} onCreated={(made) => { setNotice(`${made.label} added to ${objectLabel.toLowerCase()}.`); refresh(); }} />
    </section>
  );
}
