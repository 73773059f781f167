import { type FormEvent, useId, useState } from "react";
import type { Deal, Stage } from "../../api/client";
import { LostReasonDialog } from "../board/LostReasonDialog";
import { useLostReasons } from "../board/useBoard";
import { type DealPatch, Refused, useSaveDeal } from "./useDeal";

/** The deal's stage, changed in place; a stage that loses the deal asks for the tenant's lost
 * reason when the API says one is needed, and sends it with the move. */
export function StageField({ deal, stages }: { deal: Deal; stages: Stage[] }) {
  const id = useId();
  const save = useSaveDeal(deal);
  const reasons = useLostReasons();
  const [editing, setEditing] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [asking, setAsking] = useState<{ stageId: string; why: string } | null>(null);
  const current = stages.find((s) => s.id === deal.stage_id);
  const open = stages.filter((s) => !s.archived || s.id === deal.stage_id);

  function send(body: DealPatch) {
    save.mutate(body, {
      onSuccess: () => {
        setEditing(false);
        setMessage(null);
      },
      onError: (e) => {
        const why = e instanceof Refused ? (e.problem.errors?.lost_reason ?? []).join(" ") : "";
        if (e instanceof Refused && e.status === 422 && why && !body.lost_reason) {
          setAsking({ stageId: body.stage_id ?? "", why });
          return;
        }
        setMessage(e.message);
        if (e instanceof Refused && e.status === 412) setEditing(false);
      },
    });
  }

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const stageId = String(new FormData(event.currentTarget).get("value") ?? "");
    if (stageId && stageId !== deal.stage_id) send({ stage_id: stageId });
    else setEditing(false);
  }

  return (
    <>
      <dt id={`${id}-label`}>Stage</dt>
      <dd>
        {editing ? (
          <form onSubmit={submit} className="inline">
            <select name="value" defaultValue={deal.stage_id ?? ""} aria-labelledby={`${id}-label`} autoFocus>
              {open.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
            </select>
            <button type="submit" disabled={save.isPending}>Save</button>
            <button type="button" className="link" onClick={() => setEditing(false)}>Cancel</button>
          </form>
        ) : (
          <button type="button" className="value" onClick={() => setEditing(true)} aria-label={`Edit Stage: ${current?.name ?? "unknown"}`}>
            {current?.name ?? "—"}
          </button>
        )}
        {message && <p role="alert" className="error">{message}</p>}
        {asking && (
          <LostReasonDialog dealName={deal.name ?? "this deal"} reasons={reasons.data ?? []} message={asking.why}
            onChoose={(reason, note) => {
              const stageId = asking.stageId;
              setAsking(null);
              send({ stage_id: stageId, lost_reason: reason, lost_note: note || null });
            }}
            onCancel={() => {
              setAsking(null);
              setMessage(`The deal stays in ${current?.name ?? "its stage"}: ${asking.why}`);
            }} />
        )}
      </dd>
    </>
  );
}
