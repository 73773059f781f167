// The board's view lives in the URL (/pipeline?pipeline=…&owner=…&q=…&filter=…), so a board can
// be linked to and survives a reload.

export interface BoardView {
  pipeline: string | null;
  owner: string;
  q: string;
  filter: string;
}

export function readView(params: URLSearchParams): BoardView {
  return {
    pipeline: params.get("pipeline") || null,
    owner: params.get("owner") ?? "",
    q: params.get("q") ?? "",
    filter: params.get("filter") ?? "",
  };
}

/** The URL's query for a view: empty parts are left out. */
export function writeView(view: BoardView): URLSearchParams {
  const out = new URLSearchParams();
  if (view.pipeline) out.set("pipeline", view.pipeline);
  if (view.owner.trim()) out.set("owner", view.owner.trim());
  if (view.q.trim()) out.set("q", view.q.trim());
  if (view.filter.trim()) out.set("filter", view.filter.trim());
  return out;
}

/** The board endpoints' query parameters for a view (the API and-s them). */
export function boardQuery(view: BoardView): { owner_id?: string; q?: string; filter?: string } {
  const query: { owner_id?: string; q?: string; filter?: string } = {};
  if (view.owner.trim()) query.owner_id = view.owner.trim();
  if (view.q.trim()) query.q = view.q.trim();
  if (view.filter.trim()) query.filter = view.filter.trim();
  return query;
}

export function isFiltered(view: BoardView): boolean {
  return Boolean(view.owner.trim() || view.q.trim() || view.filter.trim());
}
