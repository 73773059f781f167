import type { ReactNode } from "react";
import { Link } from "react-router-dom";

interface Props {
  back: { to: string; label: string };
  title: string;
  subtitle?: ReactNode;
  /** The record's fields and whatever hangs off it (left column on a desktop). */
  main: ReactNode;
  /** The timeline (right column on a desktop, below on a phone). */
  aside?: ReactNode;
}

/** The shell every record page shares: a way back, the record's name, its fields and sections,
 * and its timeline beside them on a wide screen, below them on a phone. */
export function RecordPage({ back, title, subtitle, main, aside }: Props) {
  return (
    <article aria-labelledby="record-title" className="record-page">
      <p><Link to={back.to}>← {back.label}</Link></p>
      <h1 id="record-title">{title}</h1>
      {subtitle && <p className="muted">{subtitle}</p>}
      <div className="record-grid">
        <div className="record-main">{main}</div>
        {aside && <div className="record-aside">{aside}</div>}
      </div>
    </article>
  );
}

/** A titled part of a record page. */
export function RecordSection({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <section aria-labelledby={`${id}-title`} className="record-section">
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </section>
  );
}

/** The answer of a record query that did not bring a record: loading, or why not. */
export function RecordUnavailable({ pending, error, back }: { pending: boolean; error: Error | null; back: { to: string; label: string } }) {
  if (pending) return <p role="status">Loading…</p>;
  return <p role="alert" className="error">{error?.message ?? "Something went wrong."} <Link to={back.to}>Back to {back.label.toLowerCase()}</Link></p>;
}

/** No such record (404) or no longer (410): said at once, not retried. */
export class RecordMissing extends Error {}

export function retryUnlessMissing(failures: number, error: Error): boolean {
  return !(error instanceof RecordMissing) && failures < 1;
}
