import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

export interface HookSecrets {
  url: string;
  secret: string;
}

/** Where a new webhook workflow's URL and signing secret wait to be shown: this tab's memory only,
 * never storage or the history, so that they are shown once. */
export function hookSecretsKey(workflowId: string): readonly unknown[] {
  return ["workflow-webhook-secrets", workflowId];
}

function CopyRow({ id, label, value, onCopied }: { id: string; label: string; value: string; onCopied: (what: string) => void }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="inline">
        <input id={id} className="grow" readOnly value={value} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" className="secondary" aria-label={`Copy the ${label.charAt(0).toLowerCase()}${label.slice(1)}`}
          onClick={() => void navigator.clipboard?.writeText(value).then(() => onCopied(label))}>Copy</button>
      </div>
    </div>
  );
}

/** The webhook URL and signing secret of a workflow just created, shown this once. */
export function WorkflowWebhookSecret({ workflowId }: { workflowId: string }) {
  const client = useQueryClient();
  const [copied, setCopied] = useState<string | null>(null);
  const secrets = useQuery<HookSecrets | null>({
    queryKey: hookSecretsKey(workflowId), queryFn: () => null, enabled: false, staleTime: Infinity, gcTime: Infinity,
  });
  const s = secrets.data;
  if (!s) return null;
  return (
    <div className="card wide" role="region" aria-label="The webhook URL and signing secret">
      <p><strong>Copy the webhook URL and its signing secret now: they are shown only this once.</strong> A caller posts
        JSON to the URL with <code>X-Crm-Timestamp</code> and <code>X-Crm-Signature: sha256=&lt;hex HMAC-SHA256 of
        "timestamp.body"&gt;</code> under the secret.</p>
      <CopyRow id="workflow-hook-url" label="Webhook URL" value={s.url} onCopied={(what) => setCopied(`${what} copied.`)} />
      <CopyRow id="workflow-hook-secret" label="Signing secret" value={s.secret} onCopied={(what) => setCopied(`${what} copied.`)} />
      <p role="status">{copied}</p>
      <button type="button" className="secondary" onClick={() => client.setQueryData(hookSecretsKey(workflowId), null)}>
        I have copied them
      </button>
    </div>
  );
}
