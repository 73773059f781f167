import { type DragEvent, memo } from "react";
import { Link } from "react-router-dom";
import type { Card } from "./boardCache";
import { money } from "./money";

export interface StageChoice {
  id: string;
  name: string;
}

interface Props {
  card: Card;
  stageId: string;
  stages: StageChoice[];
  onMenuMove: (card: Card, stageId: string, toStageId: string) => void;
}

function dragStart(event: DragEvent<HTMLLIElement>, card: Card) {
  event.dataTransfer.setData("text/deal-id", card.id ?? "");
  event.dataTransfer.effectAllowed = "move";
}

/** A deal on the board: its page's link, amount and close date, and a stage menu, the keyboard's
 * way to move it (dragging needs a pointer). Memoised: a move re-renders the moved card only. */
export const DealCard = memo(function DealCard({ card, stageId, stages, onMenuMove }: Props) {
  return (
    <li className="deal" draggable data-deal={card.name} data-deal-id={card.id} onDragStart={(e) => dragStart(e, card)}>
      <Link to={`/deals/${card.id ?? ""}`} className="deal-name">{card.name}</Link>
      <span className="muted">
        {card.amount ? money(card.amount.amount, card.amount.currency) : "no amount"}
        {card.expected_close_date ? ` · closes ${card.expected_close_date}` : ""}
        {card.rotten ? " · needs attention" : ""}
      </span>
      <label className="sr-only" htmlFor={`move-${card.id}`}>Move {card.name} to stage</label>
      <select id={`move-${card.id}`} value={stageId} onChange={(e) => onMenuMove(card, stageId, e.target.value)}>
        {stages.map((s) => (
          <option key={s.id} value={s.id}>{s.name}</option>
        ))}
      </select>
    </li>
  );
});
