import { useMutation } from "@tanstack/react-query";
import { type FormEvent } from "react";
import { Field } from "../../components/Field";
import { TextAreaField } from "./Controls";
import { errorsOf, summary } from "./problem";
import { hasOptions, parseOptions, type Property, type PropertyObject, type PropertyUpdate, updateProperty } from "./propertiesApi";

const SHOWN = ["label", "options", "options.", "required"];

/** Change a field's label, options (select types) and whether it is required; key and type stay. */
export function CustomFieldEditor({ object, field, onDone }: {
  object: PropertyObject;
  field: Property;
  onDone: (saved: Property) => void;
}) {
  const save = useMutation({
    mutationFn: (body: PropertyUpdate) => updateProperty(object, field, body),
    onSuccess: onDone,
  });
  const errors = errorsOf(save.error);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    save.mutate({
      label: String(data.get("label") ?? "").trim(),
      required: data.get("required") === "on",
      ...(hasOptions(field.type) ? { options: parseOptions(String(data.get("options") ?? "")) } : {}),
    });
  }

  return (
    <form className="card full" onSubmit={submit} aria-label={`Edit the field ${field.label}`}>
      <Field label="Label" name="label" defaultValue={field.label} required errors={errors["label"]} />
      {hasOptions(field.type) && (
        <TextAreaField label="Options" name="options" hint="One option a line." rows={4} defaultValue={(field.options ?? []).join("\n")}
          errors={[...(errors["options"] ?? []), ...Object.entries(errors).filter(([k]) => k.startsWith("options.")).flatMap(([, m]) => m)]} />
      )}
      <label className="check"><input type="checkbox" name="required" defaultChecked={field.required} /> Required on every record</label>
      {save.error && <p role="alert" className="error">{summary(save.error, SHOWN)}</p>}
      <div className="inline">
        <button type="submit" disabled={save.isPending}>Save field</button>
      </div>
    </form>
  );
}
