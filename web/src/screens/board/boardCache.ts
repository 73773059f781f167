// Pure updates of a cached board (GET /v1/pipelines/{id}/board plus the pages "Show more" added):
// a move touches only the two columns involved, so React re-renders those and nothing else.
import type { Deal, Schemas } from "../../api/client";

export type Board = Schemas["Board"];
export type BoardStage = Schemas["BoardStage"];
export type Card = Schemas["Card"];

/** Where a card sat before a move: put back there if the API refuses it. */
export interface Origin {
  stageId: string;
  index: number;
  card: Card;
}

/** A card as the board shows it, from the deal a PATCH answered with. */
export function cardFromDeal(deal: Deal): Card {
  return {
    id: deal.id ?? "",
    stage_id: deal.stage_id ?? "",
    version: deal.version ?? 0,
    number: deal.number ?? 0,
    name: deal.name ?? "",
    amount: deal.amount?.amount != null ? { amount: deal.amount.amount, currency: deal.amount.currency ?? "" } : null,
    amount_in_base: deal.amount_in_base ?? null,
    owner_id: deal.owner_id ?? null,
    expected_close_date: deal.expected_close_date ?? null,
    probability: deal.probability ?? 0,
    rotten: deal.rotten ?? false,
    next_activity_at: deal.next_activity_at ?? null,
    position: deal.position ?? 0,
  };
}

export function findCard(board: Board, cardId: string): { stage: BoardStage; index: number; card: Card } | null {
  for (const stage of board.stages ?? []) {
    const index = (stage.cards ?? []).findIndex((c) => c.id === cardId);
    if (index >= 0) return { stage, index, card: (stage.cards ?? [])[index] as Card };
  }
  return null;
}

function mapStages(board: Board, change: (stage: BoardStage) => BoardStage): Board {
  // Unchanged stages keep their identity, so their memoised columns do not render again.
  return { ...board, stages: (board.stages ?? []).map(change) };
}

/** Where to put a card in a column: before a given card, at the top, at the end, or by position. */
export type Placement = { before: string } | { index: number } | { at: "top" | "end" | "position" };

function insert(cards: Card[], card: Card, placement: Placement): Card[] {
  let index = cards.length;
  if ("before" in placement) {
    const found = cards.findIndex((c) => c.id === placement.before);
    index = found >= 0 ? found : 0;
  } else if ("index" in placement) {
    index = Math.max(0, Math.min(placement.index, cards.length));
  } else if (placement.at === "top") {
    index = 0;
  } else if (placement.at === "position") {
    const found = cards.findIndex((c) => (c.position ?? 0) > (card.position ?? 0)
      || ((c.position ?? 0) === (card.position ?? 0) && (c.id ?? "") > (card.id ?? "")));
    index = found >= 0 ? found : cards.length;
  }
  return [...cards.slice(0, index), card, ...cards.slice(index)];
}

/** The card taken out of wherever it is and put into `stageId`; counts follow (a card already in
 * that stage, as on a retry, changes no count). */
export function placeCard(board: Board, card: Card, stageId: string, placement: Placement): Board {
  const from = findCard(board, card.id ?? "");
  const moved: Card = { ...card, stage_id: stageId };
  return mapStages(board, (stage) => {
    const isFrom = from?.stage.id === stage.id;
    const isTo = stage.id === stageId;
    if (!isFrom && !isTo) return stage;
    let cards = (stage.cards ?? []).filter((c) => c.id !== card.id);
    let count = stage.count ?? 0;
    if (isFrom && !isTo) count -= 1;
    if (isTo) {
      cards = insert(cards, moved, placement);
      if (!isFrom) count += 1;
    }
    return { ...stage, cards, count: Math.max(0, count) };
  });
}

/** Put a refused move back where the card was. */
export function restoreCard(board: Board, origin: Origin): Board {
  return placeCard(board, origin.card, origin.stageId, { index: origin.index });
}

/** The counts and totals of a fresh board answer, keeping the cards already loaded; a stage
 * that appeared (archived, now holding a deal) comes with its own first cards. */
export function mergeSummary(board: Board, fresh: Board): Board {
  const old = new Map((board.stages ?? []).map((s) => [s.id, s]));
  const stages = (fresh.stages ?? []).map((f) => {
    const known = old.get(f.id);
    if (!known) return f;
    const same = known.count === f.count && known.archived === f.archived
      && JSON.stringify([known.totals, known.base]) === JSON.stringify([f.totals, f.base]);
    return same ? known : { ...known, count: f.count, totals: f.totals, base: f.base, archived: f.archived };
  });
  return { ...board, count: fresh.count, base: fresh.base, name: fresh.name, stages };
}

/** A column's cards as refetched (its first `n`), with its cursor. */
export function replaceColumn(board: Board, stageId: string, cards: Card[], nextCursor: string | null): Board {
  return mapStages(board, (stage) => (stage.id === stageId ? { ...stage, cards, next_cursor: nextCursor } : stage));
}

/** "Show more": the next page appended (a card already shown, moved meanwhile, is not repeated). */
export function appendPage(board: Board, stageId: string, cards: Card[], nextCursor: string | null): Board {
  return mapStages(board, (stage) => {
    if (stage.id !== stageId) return stage;
    const shown = new Set((stage.cards ?? []).map((c) => c.id));
    return { ...stage, cards: [...(stage.cards ?? []), ...cards.filter((c) => !shown.has(c.id))], next_cursor: nextCursor };
  });
}
