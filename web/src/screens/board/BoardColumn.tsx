import { type DragEvent, memo } from "react";
import type { BoardStage, Card } from "./boardCache";
import { DealCard, type StageChoice } from "./DealCard";
import { money } from "./money";

interface Props {
  stage: BoardStage;
  stages: StageChoice[];
  loadingMore: boolean;
  onMenuMove: (card: Card, stageId: string, toStageId: string) => void;
  onDropCard: (cardId: string, toStageId: string, beforeId: string | null) => void;
  onShowMore: (stageId: string, cursor: string) => void;
}

function totals(stage: BoardStage): string {
  const list = stage.totals ?? [];
  if (list.length === 0) return money(0, "EUR");
  return list.map((t) => money(t.total, t.currency)).join(" + ");
}

function weighted(stage: BoardStage): string {
  const list = stage.totals ?? [];
  if (list.length === 0) return money(0, "EUR");
  return list.map((t) => money(t.weighted, t.currency)).join(" + ");
}

/** One stage: its count and totals as the API sums them, its loaded cards, and "Show more" for
 * the next page. Memoised: only the columns a move touches render again. */
export const BoardColumn = memo(function BoardColumn({ stage, stages, loadingMore, onMenuMove, onDropCard, onShowMore }: Props) {
  const cards = stage.cards ?? [];
  const left = Math.max(0, (stage.count ?? 0) - cards.length);
  function drop(event: DragEvent<HTMLElement>) {
    event.preventDefault();
    const cardId = event.dataTransfer.getData("text/deal-id");
    const over = (event.target as HTMLElement).closest<HTMLElement>("li[data-deal-id]")?.dataset.dealId ?? null;
    if (cardId) onDropCard(cardId, stage.id ?? "", over === cardId ? null : over);
  }
  return (
    <section className="column" aria-label={`${stage.name}: ${stage.count ?? 0} deals`} data-stage={stage.name}
      onDragOver={(e) => e.preventDefault()} onDrop={drop}>
      <header>
        <h2>{stage.name}{stage.archived ? " (archived)" : ""}</h2>
        <p className="muted">
          <span data-testid="count">{stage.count ?? 0}</span> · {totals(stage)} · weighted {weighted(stage)}
        </p>
      </header>
      <ul>
        {cards.map((card) => (
          <DealCard key={card.id} card={card} stageId={stage.id ?? ""} stages={stages} onMenuMove={onMenuMove} />
        ))}
      </ul>
      {stage.next_cursor && (
        <button type="button" className="more" disabled={loadingMore}
          onClick={() => onShowMore(stage.id ?? "", stage.next_cursor ?? "")}>
          Show more <span className="sr-only">deals in {stage.name}</span> ({loadingMore ? "loading…" : `${left} left`})
        </button>
      )}
    </section>
  );
});
