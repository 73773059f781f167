import { Link, useParams } from "react-router-dom";
import { DealFields } from "./DealFields";
import { DealHistory } from "./DealHistory";
import { DealTasks } from "./DealTasks";
import { DealTimeline } from "./DealTimeline";
import { LineItems } from "./LineItems";
import { useDeal, useDealProperties, usePipeline } from "./useDeal";

/** /deals/:id: the deal's fields edited in place, its line items, tasks, timeline and history. */
export default function DealPage() {
  const { id = "" } = useParams();
  const deal = useDeal(id);
  const pipeline = usePipeline(deal.data?.pipeline_id);
  const properties = useDealProperties();
  if (deal.isPending) return <p role="status">Loading…</p>;
  if (deal.error) return <p role="alert" className="error">{deal.error.message} <Link to="/pipeline">Back to the pipeline</Link></p>;
  const d = deal.data;
  const stages = pipeline.data?.stages ?? [];
  return (
    <article className="deal-page" aria-labelledby="deal-title">
      <header>
        <p><Link to={`/pipeline?pipeline=${d.pipeline_id ?? ""}`}>← {pipeline.data?.name ?? "Pipeline"}</Link></p>
        <h1 id="deal-title">{d.name}</h1>
      </header>
      <DealFields deal={d} stages={stages} properties={properties.data ?? []} />
      <LineItems deal={d} />
      <DealTasks dealId={d.id ?? id} />
      <DealTimeline dealId={d.id ?? id} />
      <DealHistory dealId={d.id ?? id} stages={stages} />
    </article>
  );
}
