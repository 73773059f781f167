import { type FormEvent, type ReactNode, useId, useState } from "react";
import type { Deal } from "../../api/client";
import { type DealPatch, Refused, useSaveDeal } from "./useDeal";

interface Props {
  deal: Deal;
  label: string;
  display: string;
  /** Not editable here, and why (e.g. an amount taken from line items). */
  fixed?: string;
  /** The editor's controls, named "value", labelled by `labelId`. */
  editor: (labelId: string) => ReactNode;
  /** The change to send, or a sentence saying what is wrong with the input. */
  toPatch: (data: FormData) => DealPatch | string;
}

/** One deal field shown as a value and edited where it is (If-Match guarded, see useSaveDeal). */
export function InPlaceField({ deal, label, display, fixed, editor, toPatch }: Props) {
  const id = useId();
  const [editing, setEditing] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const save = useSaveDeal(deal);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const patch = toPatch(new FormData(event.currentTarget));
    if (typeof patch === "string") {
      setMessage(patch);
      return;
    }
    save.mutate(patch, {
      onSuccess: () => {
        setEditing(false);
        setMessage(null);
      },
      onError: (e) => {
        setMessage(e.message);
        if (e instanceof Refused && e.status === 412) setEditing(false); // show their value, not the stale draft
      },
    });
  }

  return (
    <>
      <dt id={`${id}-label`}>{label}</dt>
      <dd>
        {fixed ? (
          <span>{display || "—"} <span className="muted">({fixed})</span></span>
        ) : editing ? (
          <form onSubmit={submit} className="inline">
            {editor(`${id}-label`)}
            <button type="submit" disabled={save.isPending}>Save</button>
            <button type="button" className="link" onClick={() => setEditing(false)}>Cancel</button>
          </form>
        ) : (
          <button type="button" className="value" onClick={() => setEditing(true)} aria-label={`Edit ${label}: ${display || "empty"}`}>
            {display || "—"}
          </button>
        )}
        {message && <p role="alert" className="error">{message}</p>}
      </dd>
    </>
  );
}
