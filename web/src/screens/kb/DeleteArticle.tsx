import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, describe } from "../../api/client";
import type { Article } from "./ArticleForm";

/** Delete, after a confirmation in the page (keyboard reachable, no browser dialog). */
export function DeleteArticle({ article, onDeleted }: { article: Article; onDeleted: () => void }) {
  const client = useQueryClient();
  const [asking, setAsking] = useState(false);
  const remove = useMutation({
    mutationFn: async () => {
      const { error } = await api.DELETE("/v1/kb/articles/{record_id}", { params: { path: { record_id: article.id ?? "" } } });
      if (error) throw new Error(describe(error));
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["kb-articles"] });
      client.removeQueries({ queryKey: ["kb-article", article.id] });
      onDeleted();
    },
  });
  return (
    <section aria-labelledby="kb-delete-title" className="card danger-zone">
      <h2 id="kb-delete-title">Delete</h2>
      {!asking ? (
        <button type="button" className="danger" onClick={() => setAsking(true)}>Delete this article…</button>
      ) : (
        <div role="group" aria-labelledby="kb-delete-question">
          <p id="kb-delete-question">Delete “{article.title}” for good? Links to it in the help centre stop working.</p>
          <div className="inline">
            <button type="button" className="danger" autoFocus disabled={remove.isPending} onClick={() => remove.mutate()}>Yes, delete it</button>
            <button type="button" className="secondary" onClick={() => setAsking(false)}>Cancel</button>
          </div>
        </div>
      )}
      {remove.error && <p role="alert" className="error">{remove.error.message}</p>}
    </section>
  );
}
