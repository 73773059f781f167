import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link, useLocation, useNavigate, useParams } from "react-router-dom";
import { managesTenant, useMe } from "../../api/me";
import { ConfirmButton } from "../../components/ConfirmButton";
import { ApiError, messageOf } from "../settings/problem";
import { recordTypeOf, triggerOf, triggerSummary } from "./definition";
import { deleteWorkflow, useWorkflow, type WorkflowCreated } from "./workflowsApi";
import { WorkflowEditor } from "./WorkflowEditor";
import { WorkflowRuns } from "./WorkflowRuns";
import { WorkflowStart } from "./WorkflowStart";
import { hookSecretsKey, WorkflowWebhookSecret } from "./WorkflowWebhookSecret";

/** /workflows/new and /workflows/:id: the editor, and for a saved workflow its test panel, manual
 * start, run history and delete. */
export default function WorkflowPage() {
  const { id } = useParams();
  const navigate = useNavigate();
  const location = useLocation();
  const client = useQueryClient();
  const me = useMe();
  const workflow = useWorkflow(id);
  const canSave = managesTenant(me.data?.roles);
  const remove = useMutation({
    mutationFn: deleteWorkflow,
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["workflows"] });
      navigate("/workflows", { replace: true });
    },
  });

  function saved(w: WorkflowCreated, created: boolean) {
    client.setQueryData(["workflow", w.id], w);
    void client.invalidateQueries({ queryKey: ["workflows"] });
    if (w.webhook_url && w.webhook_signing_secret) {
      client.setQueryData(hookSecretsKey(w.id ?? ""), { url: w.webhook_url, secret: w.webhook_signing_secret });
    }
    if (created) navigate(`/workflows/${w.id ?? ""}`, { replace: true, state: { created: w.name } });
  }

  if (id && workflow.isPending) return <p role="status">Loading…</p>;
  if (id && workflow.error) {
    const gone = workflow.error instanceof ApiError && workflow.error.status === 404;
    return <p role="alert" className="error">{gone ? "There is no such workflow." : workflow.error.message} <Link to="/workflows">Back to workflows</Link></p>;
  }
  const w = workflow.data ?? null;
  const trigger = triggerOf(w);
  const created = (location.state as { created?: string } | null)?.created;
  return (
    <article aria-labelledby="workflow-title" className="workflow-page">
      <p><Link to="/workflows">← Workflows</Link></p>
      <h1 id="workflow-title">{w ? w.name : "New workflow"}</h1>
      {w && (
        <p className="muted">
          <span className={w.enabled ? "badge success" : "badge"}>{w.enabled ? "enabled" : "disabled"}</span>{" "}
          definition version {w.version_number} · {triggerSummary(trigger)}
        </p>
      )}
      {w && created && <p role="status">Created {created}.</p>}
      {w?.id && <WorkflowWebhookSecret workflowId={w.id} />}
      {/* One editor per workflow: a save keeps it (the draft follows the saved version). */}
      <WorkflowEditor key={id ?? "new"} workflow={w} canSave={canSave} onSaved={saved}
        reload={async () => (await workflow.refetch()).data} />
      {w?.id && trigger["type"] === "manual" && (
        <WorkflowStart workflowId={w.id} recordType={recordTypeOf(trigger) ?? "record"} enabled={w.enabled ?? false} />
      )}
      {w?.id && <WorkflowRuns workflowId={w.id} />}
      {w && canSave && (
        <section aria-labelledby="delete-title" className="card danger-zone">
          <h2 id="delete-title">Delete</h2>
          <p className="muted">Its waiting runs are cancelled; its run history goes with it.</p>
          {remove.error && <p role="alert" className="error">{messageOf(remove.error)}</p>}
          <ConfirmButton label="Delete" name={`Delete the workflow ${w.name ?? ""}`} question={`Delete ${w.name ?? "this workflow"}?`}
            busy={remove.isPending} onConfirm={() => remove.mutate(w)} />
        </section>
      )}
    </article>
  );
}
