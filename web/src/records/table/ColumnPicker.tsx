import type { Column, RecordRow } from "./types";

interface Props<R extends RecordRow> {
  available: Column<R>[];
  chosen: string[];
  onChange: (columns: string[]) => void;
  onReset: () => void;
}

/** Show or hide columns (built-in and custom fields), keyboard-only friendly: a list of checkboxes. */
export function ColumnPicker<R extends RecordRow>({ available, chosen, onChange, onReset }: Props<R>) {
  function toggle(key: string, on: boolean) {
    if (on) {
      // Keep the configured order: a column comes back where it belongs.
      const order = available.map((c) => c.key);
      onChange(order.filter((k) => k === key || chosen.includes(k)));
    } else if (chosen.length > 1) {
      onChange(chosen.filter((k) => k !== key));
    }
  }
  return (
    <details className="picker">
      <summary>Columns</summary>
      <fieldset>
        <legend className="sr-only">Columns to show</legend>
        {available.map((c) => (
          <label key={c.key} className="check">
            <input type="checkbox" checked={chosen.includes(c.key)} disabled={chosen.length === 1 && chosen.includes(c.key)}
              onChange={(e) => toggle(c.key, e.currentTarget.checked)} />
            {c.label}
            <span className="sr-only"> column</span>
          </label>
        ))}
        <button type="button" className="link" onClick={onReset}>Default columns</button>
      </fieldset>
    </details>
  );
}
