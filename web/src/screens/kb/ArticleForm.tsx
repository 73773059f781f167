import { type FormEvent, useState } from "react";
import type { Schemas } from "../../api/client";
import { ARTICLE_STATUSES, type ArticleStatus } from "./KbList";

export type Article = Schemas["Article"];
export type ArticleValues = Schemas["ArticleCreate"];

interface Props {
  article: Article | null;
  busy: boolean;
  errors: Record<string, string[]>;
  /** Save the form as it is, optionally with another status (publish, unpublish). */
  onSave: (values: ArticleValues) => void;
}

function valuesOf(form: HTMLFormElement, status: ArticleStatus): ArticleValues {
  const data = new FormData(form);
  const text = (name: string) => String(data.get(name) ?? "");
  return {
    title: text("title").trim(),
    slug: text("slug").trim(),
    category: text("category").trim() || null,
    locale: text("locale").trim() || "en",
    status,
    body_markdown: text("body_markdown"),
  };
}

function Errors({ id, errors }: { id: string; errors: string[] | undefined }) {
  return errors?.length ? <p id={id} className="error">{errors.join(" ")}</p> : null;
}

/** Title, slug, category, locale, status and the Markdown body of an article. */
export function ArticleForm({ article, busy, errors, onSave }: Props) {
  const [status, setStatus] = useState<ArticleStatus>((article?.status as ArticleStatus | undefined) ?? "draft");
  const published = article?.status === "published";

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const submitter = (event.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null;
    const wanted = submitter?.value;
    const next = wanted === "published" || wanted === "draft" ? wanted : status;
    onSave(valuesOf(event.currentTarget, next));
  }

  const described = (name: string) => (errors[name]?.length ? { "aria-invalid": true, "aria-describedby": `kb-${name}-error` } : {});
  return (
    <form onSubmit={submit} className="card kb-form" aria-label="Article" noValidate>
      <div className="field">
        <label htmlFor="kb-title-input">Title</label>
        <input id="kb-title-input" name="title" required maxLength={300} defaultValue={article?.title ?? ""} {...described("title")} />
        <Errors id="kb-title-error" errors={errors["title"]} />
      </div>
      <div className="kb-meta">
        <div className="field">
          <label htmlFor="kb-slug">Slug (the help-centre address; blank: from the title)</label>
          <input id="kb-slug" name="slug" maxLength={200} defaultValue={article?.slug ?? ""} {...described("slug")} />
          <Errors id="kb-slug-error" errors={errors["slug"]} />
        </div>
        <div className="field">
          <label htmlFor="kb-category">Category</label>
          <input id="kb-category" name="category" maxLength={100} defaultValue={article?.category ?? ""} {...described("category")} />
          <Errors id="kb-category-error" errors={errors["category"]} />
        </div>
        <div className="field">
          <label htmlFor="kb-locale">Locale (e.g. en, de-CH)</label>
          <input id="kb-locale" name="locale" maxLength={35} defaultValue={article?.locale ?? "en"} {...described("locale")} />
          <Errors id="kb-locale-error" errors={errors["locale"]} />
        </div>
        <div className="field">
          <label htmlFor="kb-status-input">Status</label>
          <select id="kb-status-input" value={status} onChange={(e) => setStatus(e.target.value as ArticleStatus)}>
            {ARTICLE_STATUSES.map((s) => <option key={s} value={s}>{s === "internal" ? "internal (agents only)" : s}</option>)}
          </select>
        </div>
      </div>
      <div className="field">
        <label htmlFor="kb-body">Body (Markdown)</label>
        <textarea id="kb-body" name="body_markdown" rows={14} maxLength={200000} defaultValue={article?.body_markdown ?? ""}
          {...described("body_markdown")} />
        <Errors id="kb-body_markdown-error" errors={errors["body_markdown"]} />
      </div>
      <div className="inline">
        <button type="submit" disabled={busy}>{busy ? "Saving…" : "Save"}</button>
        {article && !published && <button type="submit" value="published" className="secondary" disabled={busy}>Publish</button>}
        {article && published && <button type="submit" value="draft" className="secondary" disabled={busy}>Unpublish</button>}
      </div>
    </form>
  );
}
