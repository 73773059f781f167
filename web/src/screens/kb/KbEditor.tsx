import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, describe, etag, type Problem } from "../../api/client";
import { type Article, ArticleForm, type ArticleValues } from "./ArticleForm";
import { DeleteArticle } from "./DeleteArticle";

class SaveError extends Error {
  constructor(message: string, readonly fields: Record<string, string[]>) {
    super(message);
  }
}

function failed(error: unknown, status: number): SaveError {
  if (status === 412) return new SaveError("Someone else changed this article first; it now shows their version.", {});
  return new SaveError(describe(error), (error as Problem | undefined)?.errors ?? {});
}

/** The tenant's help-centre mailbox (its public address is /portal/<mailbox>/); null when not readable. */
function useMailbox() {
  return useQuery({
    queryKey: ["mail-addresses"],
    staleTime: 300_000,
    retry: false,
    queryFn: async () => {
      const { data } = await api.GET("/v1/mail/addresses");
      return data?.mailbox ?? null;
    },
  });
}

/** /kb/new and /kb/:id: edit an article; the preview is the HTML the API rendered and sanitised on save. */
export default function KbEditor() {
  const { id } = useParams();
  const navigate = useNavigate();
  const client = useQueryClient();
  const mailbox = useMailbox();
  const [notice, setNotice] = useState<string | null>(null);
  const article = useQuery({
    queryKey: ["kb-article", id],
    enabled: Boolean(id),
    queryFn: async () => {
      const { data, error, response } = await api.GET("/v1/kb/articles/{record_id}", { params: { path: { record_id: id ?? "" } } });
      if (error) throw new Error(response.status === 404 ? "There is no such article." : describe(error));
      return data;
    },
  });
  const save = useMutation({
    mutationFn: async (values: ArticleValues): Promise<Article> => {
      if (!id) {
        const { data, error, response } = await api.POST("/v1/kb/articles", { body: values });
        if (error || !data) throw failed(error, response.status);
        return data;
      }
      const { data, error, response } = await api.PATCH("/v1/kb/articles/{record_id}", {
        params: { path: { record_id: id }, header: { "If-Match": etag(article.data?.version) } },
        body: values,
      });
      if (error || !data) throw failed(error, response.status);
      return data;
    },
    onSuccess: (saved) => {
      setNotice(saved.status === "published" ? `Saved and published: ${saved.title}` : `Saved (${saved.status}): ${saved.title}`);
      client.setQueryData(["kb-article", saved.id], saved);
      void client.invalidateQueries({ queryKey: ["kb-articles"] });
      if (!id) navigate(`/kb/${saved.id ?? ""}`, { replace: true });
    },
    onError: () => void (id && client.invalidateQueries({ queryKey: ["kb-article", id] })),
  });

  if (id && article.isPending) return <p role="status">Loading…</p>;
  if (id && article.error) return <p role="alert" className="error">{article.error.message} <Link to="/kb">Back to the knowledge base</Link></p>;
  const a = article.data ?? null;
  const fields = save.error instanceof SaveError ? save.error.fields : {};
  const portal = a && a.status === "published" && mailbox.data ? `/portal/${encodeURIComponent(mailbox.data)}/articles/${encodeURIComponent(a.slug ?? "")}` : null;

  return (
    <article aria-labelledby="kb-editor-title" className="kb-editor">
      <p><Link to="/kb">← Knowledge base</Link></p>
      <h1 id="kb-editor-title">{a ? a.title : "New article"}</h1>
      {a && (
        <p className="muted">
          <span className={`badge ${a.status === "published" ? "success" : ""}`.trim()}>{a.status}</span>{" "}
          {a.published_at && `first published ${new Date(a.published_at).toLocaleDateString()}`}{" "}
          {portal && <a href={portal}>View in the help centre</a>}
        </p>
      )}
      <p role="status" aria-live="polite">{notice}</p>
      {save.error && <p role="alert" className="error">{save.error.message}</p>}
      <div className="kb-columns">
        <ArticleForm key={`${a?.id ?? "new"}-${a?.version ?? 0}`} article={a} busy={save.isPending} errors={fields}
          onSave={(values) => { setNotice(null); save.mutate(values); }} />
        <section aria-labelledby="kb-preview-title" className="card kb-preview-card">
          <h2 id="kb-preview-title">Preview</h2>
          {a ? (
            <>
              <p className="muted">As the help centre shows it, from the last save.</p>
              {/* body_html is rendered from Markdown and sanitised by the API (markdown-it, then an nh3
                  allow-list: no scripts, styles or handlers); nothing else is rendered as HTML. */}
              <div className="kb-preview" data-testid="kb-preview" dangerouslySetInnerHTML={{ __html: a.body_html ?? "" }} />
            </>
          ) : (
            <p className="muted">Save the article to see it as the help centre will.</p>
          )}
        </section>
      </div>
      {a && <DeleteArticle article={a} onDeleted={() => navigate("/kb", { replace: true })} />}
    </article>
  );
}
