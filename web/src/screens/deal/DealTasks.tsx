import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useId } from "react";
import { api, describe, etag, type Schemas } from "../../api/client";

type Task = Schemas["Task"];

/** Tasks linked to the deal: open first; add one with a title and a due date; complete in one click. */
export function DealTasks({ dealId }: { dealId: string }) {
  const client = useQueryClient();
  const id = useId();
  const key = ["deal-tasks", dealId];
  const tasks = useQuery({
    queryKey: key,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/tasks", { params: { query: { deal_id: dealId, limit: 100 } } });
      if (error) throw new Error(describe(error));
      return [...(data.data ?? [])].sort((a, b) => Number(a.done) - Number(b.done) || (a.due_date ?? "9").localeCompare(b.due_date ?? "9"));
    },
  });
  const changed = () => {
    void client.invalidateQueries({ queryKey: key });
    void client.invalidateQueries({ queryKey: ["deal", dealId] }); // next_activity_at follows the open tasks
    void client.invalidateQueries({ queryKey: ["agenda"] });
  };
  const add = useMutation({
    mutationFn: async (body: Schemas["TaskCreate"]) => {
      const { error } = await api.POST("/v1/tasks", { body });
      if (error) throw new Error(describe(error));
    },
    onSuccess: changed,
  });
  const complete = useMutation({
    mutationFn: async (task: Task) => {
      const { error } = await api.POST("/v1/tasks/{task_id}/complete", {
        params: { path: { task_id: task.id ?? "" }, header: { "If-Match": etag(task.version) } },
      });
      if (error) throw new Error(describe(error));
    },
    onSuccess: changed,
  });
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const d = new FormData(form);
    const title = String(d.get("title") ?? "").trim();
    const due = String(d.get("due") ?? "");
    add.mutate({ title, deal_id: dealId, done: false, ...(due ? { due_date: due } : {}) }, { onSuccess: () => form.reset() });
  }
  return (
    <section aria-labelledby="deal-tasks-title">
      <h2 id="deal-tasks-title">Tasks</h2>
      {tasks.error && <p role="alert" className="error">{tasks.error.message}</p>}
      {complete.error && <p role="alert" className="error">{complete.error.message}</p>}
      {tasks.isSuccess && tasks.data.length === 0 && <p className="muted">No tasks yet.</p>}
      <ul className="tasks">
        {(tasks.data ?? []).map((t) => (
          <li key={t.id} data-task={t.title} className={t.done ? "done" : undefined}>
            <span>{t.title}</span>
            <span className="muted">{t.due_date ? `due ${t.due_date}` : "no due date"}{t.done ? " · done" : ""}</span>
            {!t.done && (
              <button type="button" className="secondary" disabled={complete.isPending} onClick={() => complete.mutate(t)}>
                Complete<span className="sr-only"> {t.title}</span>
              </button>
            )}
          </li>
        ))}
      </ul>
      <form className="inline" onSubmit={submit} aria-label="Add a task">
        <div className="field grow"><label htmlFor={`${id}-title`}>Task</label><input id={`${id}-title`} name="title" required /></div>
        <div className="field"><label htmlFor={`${id}-due`}>Due date</label><input id={`${id}-due`} name="due" type="date" /></div>
        {add.error && <p role="alert" className="error">{add.error.message}</p>}
        <button type="submit" disabled={add.isPending}>Add task</button>
      </form>
    </section>
  );
}
