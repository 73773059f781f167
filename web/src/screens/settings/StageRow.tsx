import type { Stage } from "../../api/client";
import { Field } from "../../components/Field";
import { ConfirmButton } from "../../components/ConfirmButton";
import { SelectField } from "./Controls";
import type { FieldErrors } from "./problem";
import { CATEGORIES, KINDS, type StageDraft, type StageKind, type ForecastCategory } from "./stages";

interface Props {
  stage: StageDraft;
  index: number;
  count: number;
  errors: FieldErrors;
  onChange: (patch: Partial<StageDraft>) => void;
  onMove: (delta: number) => void;
  onRemove: () => void;
  removing: boolean;
}

/** One stage of the draft: its fields, up/down buttons (the keyboard's way to reorder) and remove. */
export function StageRow({ stage, index, count, errors, onChange, onMove, onRemove, removing }: Props) {
  const title = `stage ${index + 1}${stage.name ? ` (${stage.name})` : ""}`;
  return (
    <fieldset className="stage-row" data-stage={stage.id ? "saved" : "new"}>
      <legend>Stage {index + 1}{stage.id ? "" : " (new)"}</legend>
      <Field label="Name" value={stage.name} required onChange={(e) => onChange({ name: e.target.value })} errors={errors["name"]} />
      <Field label="Probability (%)" type="number" min={0} max={100} inputMode="numeric" value={stage.probability}
        onChange={(e) => onChange({ probability: e.target.value })} errors={errors["probability"]} />
      <SelectField label="Kind" value={stage.kind} onChange={(e) => onChange({ kind: e.target.value as StageKind })} errors={errors["kind"]}>
        {KINDS.map((k) => <option key={k.value} value={k.value}>{k.label}</option>)}
      </SelectField>
      <SelectField label="Forecast category" value={stage.forecastCategory} errors={errors["forecast_category"]}
        onChange={(e) => onChange({ forecastCategory: e.target.value as ForecastCategory | "" })}>
        <option value="">Default for the kind</option>
        {CATEGORIES.map((c) => <option key={c.value} value={c.value}>{c.label}</option>)}
      </SelectField>
      <Field label="Rotten after (days)" type="number" min={1} inputMode="numeric" value={stage.rottenDays} placeholder="never"
        onChange={(e) => onChange({ rottenDays: e.target.value })} errors={errors["rotten_days"]} />
      <label className="check"><input type="checkbox" checked={stage.archived} onChange={(e) => onChange({ archived: e.target.checked })} /> Archived</label>
      {errors["id"] && <p className="error">{errors["id"].join(" ")}</p>}
      {errors["position"] && <p className="error">{errors["position"].join(" ")}</p>}
      <div className="inline stage-actions">
        <button type="button" id={`up-${stage.key}`} className="secondary" aria-label={`Move ${title} up`} disabled={index === 0}
          onClick={() => onMove(-1)}>↑ Up</button>
        <button type="button" id={`down-${stage.key}`} className="secondary" aria-label={`Move ${title} down`} disabled={index === count - 1}
          onClick={() => onMove(1)}>↓ Down</button>
        {stage.id
          ? <ConfirmButton label="Remove" what={title} busy={removing} question={`Remove ${stage.name} now?`} onConfirm={onRemove} />
          : <button type="button" className="secondary" aria-label={`Remove ${title}`} onClick={onRemove}>Remove</button>}
      </div>
    </fieldset>
  );
}

/** Saved stages of the same kind that a removed stage's deals may move to. */
export function moveTargets(stages: readonly Stage[], removed: Stage): Stage[] {
  return stages.filter((s) => s.id !== removed.id && s.kind === removed.kind && !s.archived);
}
