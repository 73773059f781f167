import { useMutation } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link } from "react-router-dom";
import { Field } from "../../components/Field";
import { parseIds, recordNoun, recordPath, stepLabel, type WorkflowBody } from "./definition";
import { testWorkflow, type TestRecordResult, type TestStep } from "./workflowsApi";

interface Props {
  /** The saved workflow (a dry run is the API's for a saved workflow, with the form's definition). */
  workflowId: string | undefined;
  recordType: string | null;
  /** The definition as it stands in the form, or null when it does not read (the form says why). */
  current: () => WorkflowBody | null;
  /** A refused dry run: its errors go beside the fields, like a refused save's. */
  onProblem: (error: unknown) => void;
}

function outcome(s: TestStep) {
  if (s.error) return <span className="error">Error: {s.error}</span>;
  if (s.matched !== undefined) return <span>condition {s.matched ? "matched: the run goes on to “then”" : "did not match: the run goes to “else”"}</span>;
  if (s.would_wait_until) return <span>would wait until {new Date(s.would_wait_until).toLocaleString()}</span>;
  if (s.would_wait_for) return <span>would wait for {s.would_wait_for}</span>;
  return (
    <>
      <span>would do:</span>
      <pre className="payload" tabIndex={0} aria-label={`What step ${s.step_id ?? ""} would do`}>{JSON.stringify(s.would ?? null, null, 2)}</pre>
    </>
  );
}

function RecordResult({ result, recordType }: { result: TestRecordResult; recordType: string | null }) {
  const path = recordPath(recordType, result.record_id);
  const name = result.record_id ? `${recordType ?? "record"} ${result.record_id}` : "Without a record";
  return (
    <li data-record={result.record_id ?? ""}>
      <h3 className="break">{path ? <Link to={path}>{name}</Link> : name}</h3>
      {result.error && <p className="error">{result.error}</p>}
      <ol className="test-steps">
        {(result.steps ?? []).map((s) => (
          <li key={s.step_id} data-step={s.step_id}><strong>{s.step_id}</strong> ({stepLabel(s.type ?? "")}): {outcome(s)}</li>
        ))}
      </ol>
    </li>
  );
}

/** A dry run of the form's definition, saved or not, on chosen records: what each step would do. */
export function WorkflowTestPanel({ workflowId, recordType, current, onProblem }: Props) {
  const [ids, setIds] = useState("");
  const test = useMutation({
    mutationFn: ({ id, recordIds, body }: { id: string; recordIds: string[]; body: WorkflowBody }) =>
      testWorkflow(id, recordIds, { trigger: body.trigger, steps: body.steps }),
    onMutate: () => onProblem(null),
    onError: onProblem,
  });

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const body = current();
    if (workflowId && body) test.mutate({ id: workflowId, recordIds: parseIds(ids), body });
  }

  return (
    <section aria-labelledby="test-title" className="card wide workflow-test">
      <h2 id="test-title">Test</h2>
      {!workflowId ? (
        <p className="muted">Save the workflow first (it may stay disabled): then test your changes here, saved or not, before they run.</p>
      ) : (
        <form onSubmit={submit} aria-label="Test the workflow" noValidate>
          <p className="muted">A dry run of the form as it stands: nothing is created, changed or sent.</p>
          <Field label={`${recordNoun(recordType)} ids to test on (comma or space separated, at most 20)`} value={ids} onChange={(e) => setIds(e.target.value)} />
          <button type="submit" disabled={test.isPending}>{test.isPending ? "Testing…" : "Run the test"}</button>
          {test.isError && <p className="error">The dry run was refused: the problems are listed at the top of the form.</p>}
        </form>
      )}
      {test.data && (
        <>
          <p role="status">Dry run of {test.data.length} {test.data.length === 1 ? "record" : "records"}.</p>
          <ol className="test-results" aria-label="Dry run results">
            {test.data.map((r, i) => <RecordResult key={r.record_id ?? i} result={r} recordType={recordType} />)}
          </ol>
        </>
      )}
    </section>
  );
}
