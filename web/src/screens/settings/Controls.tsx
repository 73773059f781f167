// Labelled controls for the settings forms that Field (inputs only) does not cover: a select and a
// textarea with their errors announced and tied to them, and an inline confirmation for deletes.
import { type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes, useId } from "react";

function FieldError({ id, errors }: { id: string; errors: string[] | undefined }) {
  return errors?.length ? <p id={id} className="error">{errors.join(" ")}</p> : null;
}

interface SelectProps extends SelectHTMLAttributes<HTMLSelectElement> {
  label: string;
  errors?: string[] | undefined;
  children: ReactNode;
}

export function SelectField({ label, errors, children, ...select }: SelectProps) {
  const id = useId();
  const invalid = Boolean(errors?.length);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} aria-invalid={invalid} aria-describedby={invalid ? `${id}-error` : undefined} {...select}>{children}</select>
      <FieldError id={`${id}-error`} errors={errors} />
    </div>
  );
}

interface AreaProps extends TextareaHTMLAttributes<HTMLTextAreaElement> {
  label: string;
  hint?: string;
  errors?: string[] | undefined;
}

export function TextAreaField({ label, hint, errors, ...area }: AreaProps) {
  const id = useId();
  const invalid = Boolean(errors?.length);
  const described = [hint ? `${id}-hint` : "", invalid ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {hint && <span id={`${id}-hint`} className="muted">{hint}</span>}
      <textarea id={id} aria-invalid={invalid} aria-describedby={described || undefined} {...area} />
      <FieldError id={`${id}-error`} errors={errors} />
    </div>
  );
}
