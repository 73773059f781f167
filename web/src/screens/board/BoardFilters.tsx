import { type FormEvent, useId } from "react";
import type { BoardView } from "./boardView";
import type { Owner } from "./useOwners";

interface Props {
  view: BoardView;
  owners: Owner[];
  onApply: (view: BoardView) => void;
}

/** Owner, words of the name, and the API's filter language; applied to counts, totals and cards
 * alike (the board endpoints and-them), and kept in the URL. */
export function BoardFilters({ view, owners, onApply }: Props) {
  const id = useId();
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    onApply({ ...view, owner: String(data.get("owner") ?? ""), q: String(data.get("q") ?? ""), filter: String(data.get("filter") ?? "") });
  }
  // keyed by the view: a reload or a cleared filter shows what the URL says
  return (
    <form key={`${view.owner}|${view.q}|${view.filter}`} className="board-filters" role="search" aria-label="Board filters"
      onSubmit={submit}>
      <div className="field">
        <label htmlFor={`${id}-owner`}>Owner</label>
        <select id={`${id}-owner`} name="owner" defaultValue={view.owner}>
          <option value="">Anyone</option>
          {owners.map((o) => (
            <option key={o.id} value={o.id}>{o.label}</option>
          ))}
          {view.owner && !owners.some((o) => o.id === view.owner) && <option value={view.owner}>Another user</option>}
        </select>
      </div>
      <div className="field">
        <label htmlFor={`${id}-q`}>Search deals</label>
        <input id={`${id}-q`} name="q" type="search" defaultValue={view.q} />
      </div>
      <div className="field grow">
        <label htmlFor={`${id}-filter`}>Filter</label>
        <input id={`${id}-filter`} name="filter" defaultValue={view.filter} placeholder="amount >= 1000 and expected_close_date <= '2026-12-31'"
          spellCheck={false} />
      </div>
      <div className="inline">
        <button type="submit">Apply</button>
        <button type="button" className="link" onClick={() => onApply({ ...view, owner: "", q: "", filter: "" })}>Clear</button>
      </div>
    </form>
  );
}
