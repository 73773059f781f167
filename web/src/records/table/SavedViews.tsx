import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useEffect, useRef, useState } from "react";
import { api, describe, etag, type Schemas } from "../../api/client";
import type { ListParams, ListParamsChange } from "./useListParams";
import type { Objects } from "./types";

type SavedView = Schemas["SavedView"];

interface Props {
  object: Objects;
  current: ListParams;
  defaultSort: string;
  onApply: (change: ListParamsChange, replace?: boolean) => void;
}

/** The view as list parameters. */
function asParams(view: SavedView, defaultSort: string): ListParamsChange {
  return { view: view.id ?? null, q: view.q ?? "", filter: view.filter ?? "", sort: view.sort || defaultSort, columns: view.columns ?? [] };
}

function same(view: SavedView, current: ListParams, defaultSort: string): boolean {
  return (view.q ?? "") === current.q && (view.filter ?? "") === current.filter && (view.sort || defaultSort) === current.sort
    && (view.columns ?? []).join(",") === current.columns.join(",");
}

/** The caller's own saved views of this table (GET /v1/saved-views): open one, save the screen as
 * a new one, update or delete the open one. Only the user who saved a view sees it. */
export function SavedViews({ object, current, defaultSort, onApply }: Props) {
  const client = useQueryClient();
  const key = ["saved-views", object];
  const [naming, setNaming] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const views = useQuery({
    queryKey: key,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/saved-views", { params: { query: { object, limit: 200 } } });
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
  const open = views.data?.find((v) => v.id === current.view);

  // `?view=<id>` alone (a link, a bookmark): fetch the view and put its search, filter, sort and columns in the URL.
  const applied = useRef<string | null>(null);
  const bare = current.view !== null && !current.q && !current.filter && current.sort === defaultSort && current.columns.length === 0;
  const linked = useQuery({
    queryKey: ["saved-view", current.view],
    enabled: bare && current.view !== null,
    retry: false,
    queryFn: async () => {
      const { data, error, response } = await api.GET("/v1/saved-views/{view_id}", { params: { path: { view_id: current.view ?? "" } } });
      if (error) throw new Error(response.status === 404 ? "There is no such saved view among yours." : describe(error));
      return data;
    },
  });
  useEffect(() => {
    const view = linked.data;
    if (!view?.id || applied.current === view.id || current.view !== view.id) return;
    applied.current = view.id;
    onApply(asParams(view, defaultSort), true);
  }, [linked.data, current.view, defaultSort, onApply]);

  const save = useMutation({
    mutationFn: async (name: string) => {
      const body = { object, name, q: current.q || null, filter: current.filter || null,
        sort: current.sort === defaultSort ? null : current.sort, columns: current.columns };
      const { data, error } = await api.POST("/v1/saved-views", { body });
      if (error) throw new Error(describe(error));
      return data;
    },
    onSuccess: (view) => {
      void client.invalidateQueries({ queryKey: key });
      setNaming(false);
      setMessage(`Saved the view "${view.name ?? ""}".`);
      onApply({ view: view.id ?? null });
    },
  });
  const update = useMutation({
    mutationFn: async (view: SavedView) => {
      const { data, error } = await api.PATCH("/v1/saved-views/{view_id}", {
        params: { path: { view_id: view.id ?? "" }, header: { "If-Match": etag(view.version) } },
        body: { q: current.q || null, filter: current.filter || null, sort: current.sort === defaultSort ? null : current.sort, columns: current.columns },
      });
      if (error) throw new Error(describe(error));
      return data;
    },
    onSuccess: (view) => {
      void client.invalidateQueries({ queryKey: key });
      setMessage(`Updated the view "${view.name ?? ""}".`);
    },
  });
  const remove = useMutation({
    mutationFn: async (view: SavedView) => {
      const { error } = await api.DELETE("/v1/saved-views/{view_id}", { params: { path: { view_id: view.id ?? "" } } });
      if (error) throw new Error(describe(error));
      return view;
    },
    onSuccess: (view) => {
      void client.invalidateQueries({ queryKey: key });
      setMessage(`Deleted the view "${view.name ?? ""}".`);
      onApply({ view: null });
    },
  });

  function choose(id: string) {
    setMessage(null);
    const view = views.data?.find((v) => v.id === id);
    if (view) onApply(asParams(view, defaultSort));
    else onApply({ view: null, q: "", filter: "", sort: defaultSort, columns: [] });
  }

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const name = String(new FormData(event.currentTarget).get("name") ?? "").trim();
    if (name) save.mutate(name);
  }

  const error = views.error ?? linked.error ?? save.error ?? update.error ?? remove.error;
  return (
    <div className="views">
      <label htmlFor={`views-${object}`}>Saved view</label>
      <select id={`views-${object}`} value={open?.id ?? (current.view && linked.data ? current.view : "")} onChange={(e) => choose(e.currentTarget.value)}>
        <option value="">All {object}</option>
        {(views.data ?? []).map((v) => <option key={v.id} value={v.id}>{v.name}</option>)}
      </select>
      {open && !same(open, current, defaultSort) && (
        <button type="button" className="secondary" onClick={() => update.mutate(open)} disabled={update.isPending}>
          Update this view
        </button>
      )}
      {open && (
        <button type="button" className="link" onClick={() => remove.mutate(open)} disabled={remove.isPending}>Delete this view</button>
      )}
      {naming ? (
        <form className="inline" onSubmit={submit} aria-label="Save as a new view">
          <label htmlFor={`view-name-${object}`} className="sr-only">View name</label>
          <input id={`view-name-${object}`} name="name" placeholder="View name" maxLength={200} required autoFocus />
          <button type="submit" disabled={save.isPending}>Save view</button>
          <button type="button" className="link" onClick={() => setNaming(false)}>Cancel</button>
        </form>
      ) : (
        <button type="button" className="secondary" onClick={() => setNaming(true)}>Save as new view</button>
      )}
      {message && <p role="status" className="muted">{message}</p>}
      {error && <p role="alert" className="error">{error.message}</p>}
    </div>
  );
}
