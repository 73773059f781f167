import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, describe, etag, type Schemas } from "../api/client";
import { useUnread } from "../api/notifications";
import { FollowUps } from "./myday/FollowUps";

type Task = Schemas["Task"];

function when(task: Task): string {
  if (task.due_at) return new Date(task.due_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  return task.due_date ?? "no date";
}

export default function MyDay() {
  const client = useQueryClient();
  const agenda = useQuery({
    queryKey: ["agenda"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/tasks/agenda");
      if (error) throw new Error(describe(error));
      return data;
    },
  });
  const [notice, setNotice] = useState<string | null>(null);
  const done = () => {
    void client.invalidateQueries({ queryKey: ["agenda"] });
  };
  const complete = useMutation({
    mutationFn: async (task: Task) => {
      const { error } = await api.POST("/v1/tasks/{task_id}/complete", {
        params: { path: { task_id: task.id ?? "" }, header: { "If-Match": etag(task.version) } },
      });
      if (error) throw new Error(describe(error));
      return task;
    },
    onSuccess: (task) => setNotice(`Done: ${task.title}`),
    onError: (e) => setNotice(e.message),
    onSettled: done,
  });
  const snooze = useMutation({
    mutationFn: async (task: Task) => {
      const until = new Date(Date.now() + 24 * 3600_000).toISOString();
      const { error } = await api.POST("/v1/tasks/{task_id}/snooze", {
        params: { path: { task_id: task.id ?? "" }, header: { "If-Match": etag(task.version) } },
        body: { until },
      });
      if (error) throw new Error(describe(error));
      return task;
    },
    onSuccess: (task) => setNotice(`Snoozed until tomorrow: ${task.title}`),
    onError: (e) => setNotice(e.message),
    onSettled: done,
  });

  function group(title: string, tasks: Task[] | undefined) {
    const id = `agenda-${title.toLowerCase().replace(/\W+/g, "-")}`;
    return (
      <section aria-labelledby={id} className="agenda-group">
        <h2 id={id}>{title} <span className="muted">({tasks?.length ?? 0})</span></h2>
        <ul className="inbox">
          {(tasks ?? []).map((task) => (
            <li key={task.id} data-task={task.title}>
              <span className="grow"><strong>{task.title}</strong> <span className="muted">{task.type} · {when(task)}</span></span>
              <button type="button" onClick={() => complete.mutate(task)} aria-label={`Complete ${task.title}`}>Complete</button>
              <button type="button" className="secondary" onClick={() => snooze.mutate(task)} aria-label={`Snooze 1 day: ${task.title}`}>
                Snooze 1 day
              </button>
            </li>
          ))}
        </ul>
      </section>
    );
  }

  return (
    <section aria-labelledby="myday-title">
      <h1 id="myday-title">My day</h1>
      <p role="status" aria-live="polite">{notice}</p>
      {agenda.error && <p role="alert" className="error">{agenda.error.message}</p>}
      {agenda.isPending && <p role="status">Loading your agenda…</p>}
      {agenda.data && (
        <>
          <p className="muted">{agenda.data.date} · {agenda.data.time_zone}</p>
          {group("Overdue", agenda.data.overdue)}
          {group("Today", agenda.data.today)}
          {group("Next 7 days", agenda.data.next_7_days)}
        </>
      )}
      <FollowUps />
      <Notifications />
      <CalendarFeed />
    </section>
  );
}

function Notifications() {
  const client = useQueryClient();
  const unread = useUnread();
  const readAll = useMutation({
    mutationFn: async () => {
      const { error } = await api.POST("/v1/notifications/read-all");
      if (error) throw new Error(describe(error));
    },
    onSuccess: () => void client.invalidateQueries({ queryKey: ["notifications"] }),
  });
  return (
    <section aria-labelledby="notifications-title">
      <h2 id="notifications-title">Notifications <span className="muted">({unread.data?.length ?? 0} unread)</span></h2>
      <ul className="inbox">
        {(unread.data ?? []).map((n) => (
          <li key={n.id}><span className="grow"><strong>{n.title}</strong> <span className="muted">{n.body}</span></span></li>
        ))}
      </ul>
      {(unread.data?.length ?? 0) > 0 && (
        <button type="button" className="secondary" onClick={() => readAll.mutate()}>Mark all read</button>
      )}
    </section>
  );
}

function CalendarFeed() {
  const [url, setUrl] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  async function create() {
    const { data, error } = await api.POST("/v1/calendar/feed");
    if (error || !data?.url) {
      setMessage(describe(error));
      return;
    }
    setUrl(data.url);
  }
  return (
    <section aria-labelledby="feed-title" className="card">
      <h2 id="feed-title">Calendar feed</h2>
      <p className="muted">Your tasks and meetings in any calendar app (iCalendar). The address is shown once; a new one replaces it.</p>
      {url ? (
        <>
          <label htmlFor="feed-url">Feed address</label>
          <input id="feed-url" readOnly value={url} onFocus={(e) => e.currentTarget.select()} />
          <button type="button" onClick={() => void navigator.clipboard?.writeText(url).then(() => setMessage("Copied."))}>Copy</button>
        </>
      ) : (
        <button type="button" onClick={() => void create()}>Create feed address</button>
      )}
      {message && <p role="status">{message}</p>}
    </section>
  );
}
