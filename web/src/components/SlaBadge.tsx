import { useEffect, useState } from "react";

interface Props {
  dueAt: string | null | undefined;
  breached?: boolean | undefined;
  paused?: boolean | undefined;
  metAt?: string | null | undefined;
}

/** "Due in 3 h 20 min", "Overdue 5 min", "SLA breached", "Met", "Paused": re-renders each minute. */
export function slaText({ dueAt, breached, paused, metAt }: Props, now: number): { text: string; tone: "" | "warning" | "danger" } {
  if (breached) return { text: "SLA breached", tone: "danger" };
  if (metAt) return { text: "Met", tone: "" };
  if (paused) return { text: "Paused", tone: "" };
  if (!dueAt) return { text: "No SLA", tone: "" };
  const minutes = Math.round((new Date(dueAt).getTime() - now) / 60_000);
  if (minutes < 0) return { text: `Overdue ${-minutes} min`, tone: "danger" };
  const text = minutes >= 120 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : `${minutes} min`;
  return { text: `Due in ${text}`, tone: minutes < 60 ? "warning" : "" };
}

/** Counts down to an SLA due time (a ticket's next one, or one target's). */
export function SlaBadge(props: Props) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 60_000);
    return () => clearInterval(t);
  }, []);
  const { text, tone } = slaText(props, now);
  return <span className={`badge ${tone}`.trim()}>{text}</span>;
}
