import { useEffect, useRef, useState } from "react";

interface Props {
  /** The button's visible text, e.g. "Delete". */
  label: string;
  /** What it acts on ("Budget" gives the accessible name "Delete Budget"), or the whole `name`. */
  what?: string;
  name?: string;
  /** The question asked in place before doing it. */
  question: string;
  onConfirm: () => void;
  busy?: boolean;
}

/** A destructive action asked about in place (no modal, no hover; keyboard and screen-reader
 * friendly): the question, then Yes or Cancel, with the focus on Yes. */
export function ConfirmButton({ label, what = "", name, question, onConfirm, busy = false }: Props) {
  const [asking, setAsking] = useState(false);
  const yes = useRef<HTMLButtonElement>(null);
  const accessibleName = name ?? `${label} ${what}`.trim();
  useEffect(() => {
    if (asking) yes.current?.focus();
  }, [asking]);
  if (!asking) {
    return <button type="button" className="secondary" aria-label={accessibleName} disabled={busy} onClick={() => setAsking(true)}>{label}</button>;
  }
  return (
    <span className="confirm" role="group" aria-label={`Confirm: ${accessibleName}`}>
      <span>{question}</span>
      <button type="button" className="danger" ref={yes} disabled={busy} onClick={() => { setAsking(false); onConfirm(); }}>
        Yes, {label.toLowerCase()}
      </button>
      <button type="button" className="secondary" onClick={() => setAsking(false)}>Cancel</button>
    </span>
  );
}
