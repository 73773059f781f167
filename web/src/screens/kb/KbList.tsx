import { useQuery } from "@tanstack/react-query";
import type { FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api, describe } from "../../api/client";

export const ARTICLE_STATUSES = ["draft", "internal", "published"] as const;
export type ArticleStatus = (typeof ARTICLE_STATUSES)[number];

function isStatus(value: string | null): value is ArticleStatus {
  return ARTICLE_STATUSES.some((s) => s === value);
}

/** /kb: the knowledge-base articles, searched (ranked by the API) and filtered by status; the view is in the URL. */
export default function KbList() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const raw = params.get("status");
  const status = isStatus(raw) ? raw : undefined;
  const articles = useQuery({
    queryKey: ["kb-articles", q, status],
    queryFn: async () => {
      const query = q ? { q, status, limit: 100 } : { status, sort: "-updated_at", limit: 100 };
      const { data, error } = await api.GET("/v1/kb/articles", { params: { query } });
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });

  function apply(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next: Record<string, string> = {};
    const text = String(form.get("q") ?? "").trim();
    const st = String(form.get("status") ?? "");
    if (text) next["q"] = text;
    if (st) next["status"] = st;
    setParams(next);
  }

  return (
    <section aria-labelledby="kb-title">
      <div className="toolbar">
        <h1 id="kb-title">Knowledge base</h1>
        <Link to="/kb/new" className="button">New article</Link>
      </div>
      <form className="filters" onSubmit={apply} aria-label="Find articles" key={`${q}|${status ?? ""}`}>
        <div className="field">
          <label htmlFor="kb-q">Search articles</label>
          <input id="kb-q" name="q" type="search" defaultValue={q} />
        </div>
        <div className="field">
          <label htmlFor="kb-status">Status</label>
          <select id="kb-status" name="status" defaultValue={status ?? ""}>
            <option value="">Any status</option>
            {ARTICLE_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </div>
        <button type="submit">Apply</button>
      </form>
      {articles.error && <p role="alert" className="error">{articles.error.message}</p>}
      {articles.isPending && <p role="status">Loading articles…</p>}
      {articles.isSuccess && articles.data.length === 0 && <p>No articles match.</p>}
      {articles.isSuccess && articles.data.length > 0 && (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Articles{q ? `, best match first` : ", latest change first"}</caption>
            <thead>
              <tr><th scope="col">Title</th><th scope="col">Status</th><th scope="col">Category</th><th scope="col">Locale</th><th scope="col">Updated</th></tr>
            </thead>
            <tbody>
              {articles.data.map((a) => (
                <tr key={a.id} data-article={a.title}>
                  <th scope="row" data-label="Title"><Link to={`/kb/${a.id}`}>{a.title}</Link></th>
                  <td data-label="Status"><span className={`badge ${a.status === "published" ? "success" : ""}`.trim()}>{a.status}</span></td>
                  <td data-label="Category">{a.category ?? "—"}</td>
                  <td data-label="Locale">{a.locale}</td>
                  <td data-label="Updated">{a.updated_at ? new Date(a.updated_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
