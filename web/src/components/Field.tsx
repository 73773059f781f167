import type { InputHTMLAttributes } from "react";
import { useId } from "react";

interface Props extends InputHTMLAttributes<HTMLInputElement> {
  label: string;
  errors?: string[] | undefined;
}

/** A labelled input whose errors are announced and tied to it (aria-describedby). */
export function Field({ label, errors, ...input }: Props) {
  const id = useId();
  const errorId = `${id}-error`;
  const invalid = Boolean(errors?.length);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={invalid} aria-describedby={invalid ? errorId : undefined} {...input} />
      {invalid && (
        <p id={errorId} className="error">
          {errors?.join(" ")}
        </p>
      )}
    </div>
  );
}
