// A run's or a step's status as a word in a badge (the colour only repeats what the word says).
const TONES: Record<string, string> = {
  completed: "success", succeeded: "success", failed: "danger", running: "warning", retrying: "warning", waiting: "warning",
};

export function RunStatusBadge({ status }: { status: string | undefined }) {
  const tone = TONES[status ?? ""] ?? "";
  return <span className={`badge ${tone}`.trim()} data-status={status}>{status ?? "unknown"}</span>;
}
