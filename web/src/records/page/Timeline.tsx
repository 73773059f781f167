import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, describe } from "../../api/client";
import { ActivityForm } from "./ActivityForm";
import { ACTIVITY_KINDS, type ActivityCreate, activityDetails } from "./activityBody";
import { RecordSection } from "./RecordPage";

export interface TimelineParent {
  kind: "contacts" | "companies";
  id: string;
}

async function list(parent: TimelineParent) {
  const params = { path: { parent_id: parent.id }, query: { limit: 50 } };
  const { data, error } = parent.kind === "contacts"
    ? await api.GET("/v1/contacts/{parent_id}/activities", { params })
    : await api.GET("/v1/companies/{parent_id}/activities", { params });
  if (error) throw new Error(describe(error));
  return data.data ?? [];
}

async function post(parent: TimelineParent, body: ActivityCreate) {
  const params = { path: { parent_id: parent.id } };
  const { error } = parent.kind === "contacts"
    ? await api.POST("/v1/contacts/{parent_id}/activities", { params, body })
    : await api.POST("/v1/companies/{parent_id}/activities", { params, body });
  if (error) throw new Error(describe(error));
}

const KIND_LABEL = Object.fromEntries(ACTIVITY_KINDS.map((k) => [k.value, k.label]));

/** A record's timeline, newest first, with the form that adds to it. A company's also shows what
 * was logged on its contacts (the API's company timeline). */
export function Timeline({ parent }: { parent: TimelineParent }) {
  const client = useQueryClient();
  const key = ["activities", parent.kind, parent.id];
  const activities = useQuery({ queryKey: key, queryFn: () => list(parent) });
  const add = useMutation({
    mutationFn: (body: ActivityCreate) => post(parent, body),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["activities"] }),
  });

  return (
    <RecordSection id="timeline" title="Timeline">
      <ActivityForm add={(body) => add.mutateAsync(body)} pending={add.isPending} error={add.error?.message ?? null} />
      {activities.error && <p role="alert" className="error">{activities.error.message}</p>}
      {activities.data?.length === 0 && <p className="muted">Nothing logged yet.</p>}
      <ol className="timeline" aria-label="Activities, newest first">
        {(activities.data ?? []).map((a) => {
          const when = a.starts_at ?? a.occurred_at ?? a.created_at ?? "";
          const details = activityDetails(a);
          return (
            <li key={a.id} data-kind={a.type}>
              <strong>{KIND_LABEL[a.type ?? ""] ?? a.type}</strong> <time dateTime={when}>{new Date(when).toLocaleString()}</time>
              {a.subject && <p className="activity-subject">{a.subject}</p>}
              {details && <p className="muted">{details}</p>}
              {a.body && <p className="message-text">{a.body}</p>}
            </li>
          );
        })}
      </ol>
    </RecordSection>
  );
}
