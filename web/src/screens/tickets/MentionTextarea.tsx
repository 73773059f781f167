import { type KeyboardEvent, useLayoutEffect, useRef, useState } from "react";
import { displayName, insertMention, matchPeople, mentionQuery, type Person } from "./mentions";

interface Props {
  id: string;
  value: string;
  onChange: (text: string) => void;
  people: Person[];
  /** Off for a public reply: only internal notes notify the people they mention. */
  mentions: boolean;
  rows?: number;
}

/** A textarea that suggests people after "@": arrow keys and Enter (or a click) insert `@[Name](id)`. */
export function MentionTextarea({ id, value, onChange, people, mentions, rows = 4 }: Props) {
  const ref = useRef<HTMLTextAreaElement>(null);
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<number | null>(null);
  const pendingCaret = useRef<number | null>(null);
  const query = mentions ? mentionQuery(value, caret) : null;
  const matches = query && query.start !== dismissed ? matchPeople(people, query.query) : [];
  const open = matches.length > 0;
  const listId = `${id}-people`;
  const optionId = (i: number) => `${id}-person-${i}`;
  const current = Math.min(active, Math.max(matches.length - 1, 0));

  useLayoutEffect(() => {
    if (pendingCaret.current !== null && ref.current) {
      ref.current.setSelectionRange(pendingCaret.current, pendingCaret.current);
      pendingCaret.current = null;
    }
  });

  function pick(p: Person) {
    if (!query) return;
    const next = insertMention(value, query.start, caret, p);
    pendingCaret.current = next.caret;
    setCaret(next.caret);
    setActive(0);
    onChange(next.text);
    ref.current?.focus();
  }

  function keyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (!open) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const step = e.key === "ArrowDown" ? 1 : -1;
      setActive((current + step + matches.length) % matches.length);
    } else if (e.key === "Enter" || e.key === "Tab") {
      const chosen = matches[current];
      if (chosen) {
        e.preventDefault();
        pick(chosen);
      }
    } else if (e.key === "Escape") {
      e.preventDefault();
      setDismissed(query?.start ?? null);
    }
  }

  return (
    <div className="mention-box">
      <textarea
        ref={ref}
        id={id}
        name="text"
        rows={rows}
        value={value}
        aria-autocomplete={mentions ? "list" : undefined}
        aria-controls={open ? listId : undefined}
        aria-activedescendant={open ? optionId(current) : undefined}
        onChange={(e) => {
          setCaret(e.currentTarget.selectionStart);
          setActive(0);
          onChange(e.currentTarget.value);
        }}
        onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
        onKeyDown={keyDown}
      />
      {open && (
        <ul role="listbox" id={listId} className="mention-list" aria-label="People to mention">
          {matches.map((p, i) => (
            <li
              key={p.id}
              id={optionId(i)}
              role="option"
              aria-selected={i === current}
              onMouseDown={(e) => e.preventDefault()}
              onClick={() => pick(p)}
            >
              <strong>{displayName(p)}</strong> {p.name && <span className="muted">{p.email}</span>}
            </li>
          ))}
        </ul>
      )}
      <p role="status" className="sr-only">
        {open ? `${matches.length} ${matches.length === 1 ? "person matches" : "people match"}: up and down arrows to choose, Enter to mention.` : ""}
      </p>
    </div>
  );
}
