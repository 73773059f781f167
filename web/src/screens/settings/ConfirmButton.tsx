import { useEffect, useRef, useState } from "react";

interface Props {
  /** The button's text, e.g. "Delete". */
  label: string;
  /** Its accessible name, naming the record: "Delete webhook https://…". */
  name: string;
  /** The question asked before doing it. */
  question: string;
  onConfirm: () => void;
  busy?: boolean;
}

/** A destructive action asked about in place (no modal, no hover): the question, then Yes or Cancel. */
export function ConfirmButton({ label, name, question, onConfirm, busy = false }: Props) {
  const [asking, setAsking] = useState(false);
  const yes = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) yes.current?.focus();
  }, [asking]);
  if (!asking) {
    return <button type="button" className="secondary" aria-label={name} onClick={() => setAsking(true)} disabled={busy}>{label}</button>;
  }
  return (
    <span className="confirm" role="group" aria-label={question}>
      <span>{question}</span>
      <button type="button" className="danger" ref={yes} onClick={() => { setAsking(false); onConfirm(); }}>Yes, {label.toLowerCase()}</button>
      <button type="button" className="secondary" onClick={() => setAsking(false)}>Cancel</button>
    </span>
  );
}
