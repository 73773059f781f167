import { useEffect, useState } from "react";
import type { Column, RecordRow } from "./types";

interface Props<R extends RecordRow> {
  available: Column<R>[];
  chosen: string[];
  onChange: (columns: string[]) => void;
  onReset: () => void;
}

/** Show or hide columns (built-in and custom fields), keyboard-only friendly: a list of checkboxes. */
export function ColumnPicker<R extends RecordRow>({ available, chosen: fromUrl, onChange, onReset }: Props<R>) {
  // The URL is the truth, but a navigation renders in a transition: the boxes follow the click at once.
  const [chosen, setChosen] = useState(fromUrl);
  const key = fromUrl.join(",");
  useEffect(() => setChosen(key.split(",").filter(Boolean)), [key]);

  function toggle(column: string, on: boolean) {
    // Keep the configured order: a column comes back where it belongs.
    const next = on ? available.map((c) => c.key).filter((k) => k === column || chosen.includes(k))
      : chosen.length > 1 ? chosen.filter((k) => k !== column) : chosen;
    setChosen(next);
    onChange(next);
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
