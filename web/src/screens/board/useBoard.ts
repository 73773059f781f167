import { type QueryClient, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef } from "react";
import { api, describe, etag, type Problem } from "../../api/client";
import { appendPage, type Board, cardFromDeal, mergeSummary, type Origin, placeCard, type Placement, replaceColumn, restoreCard } from "./boardCache";
import { boardQuery, type BoardView } from "./boardView";

export const PAGE = 20; // cards per column and per "Show more"
const MAX_LIMIT = 200;

export function boardKey(pipelineId: string, view: BoardView): readonly unknown[] {
  return ["board", pipelineId, view.owner, view.q, view.filter];
}

/** The board's stages with counts, totals and first cards: one request whatever the deal count. */
export function useBoard(pipelineId: string, view: BoardView) {
  return useQuery({
    queryKey: boardKey(pipelineId, view),
    // Moves and "Show more" keep this cache current themselves; a refetch would drop loaded pages.
    staleTime: 60_000,
    refetchOnWindowFocus: false,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/pipelines/{pipeline_id}/board", {
        params: { path: { pipeline_id: pipelineId }, query: { ...boardQuery(view), limit: PAGE } },
      });
      if (error) throw new Error(describe(error));
      return data;
    },
  });
}

async function fetchColumn(pipelineId: string, stageId: string, view: BoardView, limit: number, cursor?: string) {
  const { data, error } = await api.GET("/v1/pipelines/{pipeline_id}/board/stages/{stage_id}/cards", {
    params: { path: { pipeline_id: pipelineId, stage_id: stageId }, query: { ...boardQuery(view), limit, cursor } },
  });
  if (error) throw new Error(describe(error));
  return data;
}

/** The next page of one column, appended to the cached board. */
export function useShowMore(pipelineId: string, view: BoardView) {
  const client = useQueryClient();
  const key = boardKey(pipelineId, view);
  return useMutation({
    mutationFn: async ({ stageId, cursor }: { stageId: string; cursor: string }) => fetchColumn(pipelineId, stageId, view, PAGE, cursor),
    onSuccess: (page, { stageId }) => {
      client.setQueryData<Board>(key, (old) => old && appendPage(old, stageId, page.data ?? [], page.next_cursor ?? null));
    },
  });
}

export class MoveRefused extends Error {
  constructor(message: string, readonly status: number, readonly problem: Problem) {
    super(message);
  }
}

export interface Move {
  origin: Origin;
  toStageId: string;
  placement: Placement;
  lostReason?: string;
  lostNote?: string;
}

/** Whether a refusal asks for a lost reason that the move did not send. */
export function needsLostReason(error: unknown, move: Move): boolean {
  return error instanceof MoveRefused && error.status === 422 && !move.lostReason && Boolean(error.problem.errors?.lost_reason);
}

/** Refresh what a move changed: the summary (counts, totals) and the two columns, never the
 * whole board. A refresh that started before a later change is dropped (`generation`). */
function refresh(client: QueryClient, key: readonly unknown[], pipelineId: string, view: BoardView, stageIds: string[],
                 generation: { current: number }) {
  const started = generation.current;
  const apply = (change: (board: Board) => Board) => {
    if (generation.current === started) client.setQueryData<Board>(key, (old) => old && change(old));
  };
  void api.GET("/v1/pipelines/{pipeline_id}/board", {
    params: { path: { pipeline_id: pipelineId }, query: { ...boardQuery(view), limit: 1 } },
  }).then(({ data }) => data && apply((board) => mergeSummary(board, data)));
  for (const stageId of new Set(stageIds)) {
    const shown = client.getQueryData<Board>(key)?.stages?.find((s) => s.id === stageId)?.cards?.length ?? 0;
    if (shown > MAX_LIMIT) continue;
    void fetchColumn(pipelineId, stageId, view, Math.max(PAGE, shown))
      .then((page) => apply((board) => replaceColumn(board, stageId, page.data ?? [], page.next_cursor ?? null)))
      .catch(() => undefined);
  }
}

/** An optimistic move: the card is in its new column at once; the PATCH's answer updates it in
 * place; a refusal puts it back (the caller says why, or asks for a lost reason and retries). */
export function useMoveDeal(pipelineId: string, view: BoardView, onRefused: (error: unknown, move: Move) => void) {
  const client = useQueryClient();
  const key = boardKey(pipelineId, view);
  const generation = useRef(0);
  const set = (change: (board: Board) => Board) => {
    generation.current += 1;
    client.setQueryData<Board>(key, (old) => old && change(old));
  };
  const mutation = useMutation({
    mutationFn: async (move: Move) => {
      const { data, error, response } = await api.PATCH("/v1/deals/{record_id}", {
        params: { path: { record_id: move.origin.card.id ?? "" }, header: { "If-Match": etag(move.origin.card.version) } },
        body: {
          stage_id: move.toStageId,
          ...("before" in move.placement ? { before_id: move.placement.before } : {}),
          ...(move.lostReason ? { lost_reason: move.lostReason, lost_note: move.lostNote || null } : {}),
        },
      });
      if (error) throw new MoveRefused(describe(error), response.status, error as Problem);
      return data;
    },
    onMutate: async (move) => {
      await client.cancelQueries({ queryKey: key });
      set((board) => placeCard(board, move.origin.card, move.toStageId, move.placement));
    },
    onSuccess: (saved, move) => {
      set((board) => placeCard(board, cardFromDeal(saved), saved.stage_id ?? move.toStageId, { at: "position" }));
      refresh(client, key, pipelineId, view, [move.origin.stageId, saved.stage_id ?? move.toStageId], generation);
      void client.invalidateQueries({ queryKey: ["forecast"] });
      void client.invalidateQueries({ queryKey: ["deal", saved.id] });
    },
    onError: (error, move) => {
      if (needsLostReason(error, move)) {
        onRefused(error, move); // the card waits in the lost column while the user picks a reason
        return;
      }
      set((board) => restoreCard(board, move.origin));
      refresh(client, key, pipelineId, view, [move.origin.stageId], generation);
      onRefused(error, move);
    },
  });
  /** A move given up (the lost-reason question cancelled): the card goes back. */
  const restore = (origin: Origin) => set((board) => restoreCard(board, origin));
  return { move: mutation.mutate, restore };
}

/** The tenant's lost reasons (/v1/settings/pipeline), offered when a deal is lost. */
export function useLostReasons() {
  return useQuery({
    queryKey: ["settings", "pipeline"],
    staleTime: 300_000,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/settings/pipeline");
      if (error) throw new Error(describe(error));
      return data.lost_reasons ?? [];
    },
  });
}
