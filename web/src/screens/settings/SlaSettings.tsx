import { useState } from "react";
import { BusinessHoursSection } from "./sla/BusinessHoursSection";
import { RecentRecomputes, RecomputeProgress } from "./sla/RecomputeProgress";
import { SlaPoliciesSection } from "./sla/SlaPoliciesSection";

/** SLA policies and the business hours they count in; a change that queued a recompute is followed to its end. */
export default function SlaSettings() {
  const [jobs, setJobs] = useState<string[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  function saved(job: string | null) {
    if (job) setJobs((all) => (all.includes(job) ? all : [job, ...all]));
    setNotice(job ? "Done. The open tickets' SLA clocks are being recomputed." : "Done.");
  }
  return (
    <section aria-labelledby="sla-title">
      <h2 id="sla-title">SLA policies and business hours</h2>
      <p role="status">{notice}</p>
      {jobs.map((id) => <RecomputeProgress key={id} id={id} onDismiss={() => setJobs((all) => all.filter((j) => j !== id))} />)}
      <SlaPoliciesSection onJob={saved} />
      <BusinessHoursSection onJob={saved} />
      <RecentRecomputes />
    </section>
  );
}
