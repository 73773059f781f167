import { useMutation } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Field } from "../../components/Field";
import { SelectField, TextAreaField } from "./Controls";
import { errorsOf, summary } from "./problem";
import { createProperty, hasOptions, parseOptions, type Property, type PropertyObject, type PropertyType, TYPES } from "./propertiesApi";

const SHOWN = ["key", "label", "type", "options", "options.", "required"];

/** The form that defines a new custom field of one object. */
export function CustomFieldNew({ object, objectLabel, onCreated }: {
  object: PropertyObject;
  objectLabel: string;
  onCreated: (made: Property) => void;
}) {
  const [type, setType] = useState<PropertyType>("text");
  const create = useMutation({
    mutationFn: (body: Parameters<typeof createProperty>[1]) => createProperty(object, body),
    onSuccess: onCreated,
  });
  const errors = errorsOf(create.error);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const options = parseOptions(String(data.get("options") ?? ""));
    create.mutate({
      key: String(data.get("key") ?? "").trim(),
      label: String(data.get("label") ?? "").trim(),
      type,
      archived: false,
      required: data.get("required") === "on",
      ...(hasOptions(type) ? { options } : {}),
    }, { onSuccess: () => { form.reset(); setType("text"); } });
  }

  return (
    <form className="card" onSubmit={submit} aria-labelledby="new-field-title">
      <h3 id="new-field-title">New field on {objectLabel.toLowerCase()}</h3>
      <Field label="Label" name="label" required errors={errors["label"]} />
      <Field label="Key (lowercase letters, digits, _)" name="key" required autoCapitalize="none" spellCheck={false}
        errors={errors["key"]} />
      <SelectField label="Type" name="type" value={type} onChange={(e) => setType(e.target.value as PropertyType)} errors={errors["type"]}>
        {TYPES.map((t) => <option key={t.value} value={t.value}>{t.label}</option>)}
      </SelectField>
      {hasOptions(type) && (
        <TextAreaField label="Options" name="options" hint="One option a line." rows={4}
          errors={[...(errors["options"] ?? []), ...Object.entries(errors).filter(([k]) => k.startsWith("options.")).flatMap(([, m]) => m)]} />
      )}
      <label className="check"><input type="checkbox" name="required" /> Required on every record</label>
      {create.error && <p role="alert" className="error">{summary(create.error, SHOWN)}</p>}
      <button type="submit" disabled={create.isPending}>Add field</button>
    </form>
  );
}
