import { type FormEvent, useEffect, useId, useRef } from "react";

interface Props {
  dealName: string;
  reasons: string[];
  message: string;
  onChoose: (reason: string, note: string) => void;
  onCancel: () => void;
}

/** Asked when the API refuses to lose a deal without a reason: the tenant's lost reasons
 * (/v1/settings/pipeline), and an optional note. A modal <dialog>: focus stays inside, Esc cancels. */
export function LostReasonDialog({ dealName, reasons, message, onChoose, onCancel }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open && typeof dialog.showModal === "function") dialog.showModal();
    return () => dialog?.close();
  }, []);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    onChoose(String(data.get("reason") ?? ""), String(data.get("note") ?? "").trim());
  }

  return (
    <dialog ref={ref} className="lost-dialog" aria-labelledby={`${id}-title`} aria-describedby={`${id}-why`}
      onCancel={(e) => { e.preventDefault(); onCancel(); }}>
      <form onSubmit={submit}>
        <h2 id={`${id}-title`}>Why was {dealName} lost?</h2>
        <p id={`${id}-why`} className="muted">{message}</p>
        <label htmlFor={`${id}-reason`}>Lost reason</label>
        <select id={`${id}-reason`} name="reason" required defaultValue="">
          <option value="" disabled>Choose a reason</option>
          {reasons.map((r) => (
            <option key={r} value={r}>{r}</option>
          ))}
        </select>
        <label htmlFor={`${id}-note`}>Note (optional)</label>
        <textarea id={`${id}-note`} name="note" rows={2} />
        <div className="inline">
          <button type="submit">Mark as lost</button>
          <button type="button" className="link" onClick={onCancel}>Cancel</button>
        </div>
      </form>
    </dialog>
  );
}
