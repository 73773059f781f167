import { useCallback } from "react";
import { useSearchParams } from "react-router-dom";

export interface ListParams {
  q: string;
  filter: string;
  sort: string;
  /** Chosen columns in order; empty: the defaults. */
  columns: string[];
  view: string | null;
}

export type ListParamsChange = Partial<ListParams>;

/** The list's state lives in the URL (`?q=&filter=&sort=&cols=&view=`): a screen can be linked and reloaded. */
export function useListParams(defaultSort: string): [ListParams, (change: ListParamsChange, replace?: boolean) => void] {
  const [params, setParams] = useSearchParams();
  const current: ListParams = {
    q: params.get("q") ?? "",
    filter: params.get("filter") ?? "",
    sort: params.get("sort") ?? defaultSort,
    columns: (params.get("cols") ?? "").split(",").filter(Boolean),
    view: params.get("view"),
  };
  const change = useCallback(
    (next: ListParamsChange, replace = false) => {
      setParams(
        (prev) => {
          const out = new URLSearchParams(prev);
          const put = (name: string, value: string | null | undefined) => {
            if (value) out.set(name, value);
            else out.delete(name);
          };
          if ("q" in next) put("q", next.q);
          if ("filter" in next) put("filter", next.filter);
          if ("sort" in next) put("sort", next.sort === defaultSort ? "" : next.sort);
          if ("columns" in next) put("cols", (next.columns ?? []).join(","));
          if ("view" in next) put("view", next.view);
          return out;
        },
        { replace },
      );
    },
    [setParams, defaultSort],
  );
  return [current, change];
}
