import { useQuery } from "@tanstack/react-query";
import { useCallback, useMemo, useRef, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { api, describe } from "../api/client";
import { BoardColumn } from "./board/BoardColumn";
import { BoardFilters } from "./board/BoardFilters";
import { type Board as BoardData, type Card, findCard, type Placement } from "./board/boardCache";
import { type BoardView, isFiltered, readView, writeView } from "./board/boardView";
import { LostReasonDialog } from "./board/LostReasonDialog";
import { type Move, MoveRefused, needsLostReason, useBoard, useLostReasons, useMoveDeal, useShowMore } from "./board/useBoard";
import { useOwners } from "./board/useOwners";

export default function Board() {
  const [params, setParams] = useSearchParams();
  const view = readView(params);
  const owners = useOwners();
  const pipelines = useQuery({
    queryKey: ["pipelines"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/pipelines", { params: { query: { limit: 100 } } });
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
  const list = pipelines.data ?? [];
  const pipeline = list.find((p) => p.id === view.pipeline) ?? list.find((p) => p.is_default) ?? list[0];
  const apply = (next: BoardView) => setParams(writeView(next));
  if (pipelines.isPending) return <p role="status">Loading pipelines…</p>;
  if (pipelines.error) return <p role="alert" className="error">{pipelines.error.message}</p>;
  if (!pipeline?.id) return <p>No pipelines yet.</p>;
  return (
    <section aria-labelledby="board-title">
      <div className="toolbar">
        <h1 id="board-title">Pipeline</h1>
        <label htmlFor="pipeline-choice">Pipeline</label>
        <select id="pipeline-choice" value={pipeline.id} onChange={(e) => apply({ ...view, pipeline: e.target.value })}>
          {list.map((p) => (
            <option key={p.id} value={p.id}>{p.name}</option>
          ))}
        </select>
      </div>
      <BoardFilters view={view} owners={owners} onApply={apply} />
      <Columns key={`${pipeline.id}|${view.owner}|${view.q}|${view.filter}`} pipelineId={pipeline.id} view={view} />
    </section>
  );
}

interface Pending {
  move: Move;
  message: string;
}

function Columns({ pipelineId, view }: { pipelineId: string; view: BoardView }) {
  const board = useBoard(pipelineId, view);
  const latest = useRef<BoardData | undefined>(undefined);
  latest.current = board.data;
  const [notice, setNotice] = useState<string | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const [loadingMore, setLoadingMore] = useState<string | null>(null);
  const reasons = useLostReasons();
  const stageName = (id: string) => latest.current?.stages?.find((s) => s.id === id)?.name ?? "that stage";

  const refused = useCallback((error: unknown, move: Move) => {
    if (needsLostReason(error, move)) {
      const problem = error instanceof MoveRefused ? error.problem : {};
      setPending({ move, message: (problem.errors?.lost_reason ?? []).join(" ") || "A lost deal needs a reason." });
      return;
    }
    const why = error instanceof Error ? error.message : String(error);
    setNotice(`${move.origin.card.name} stays where it was: could not move it to ${stageName(move.toStageId)}. ${why}`);
  }, []);
  const { move, restore } = useMoveDeal(pipelineId, view, refused);
  const more = useShowMore(pipelineId, view);

  const start = useCallback((cardId: string, toStageId: string, placement?: Placement) => {
    const current = latest.current;
    const found = current && findCard(current, cardId);
    if (!current || !found || found.stage.id === toStageId) return;
    const target = current.stages?.find((s) => s.id === toStageId);
    const first = target?.cards?.[0]?.id;
    // Into a column with more pages: at its top, where it can be seen; else at its end.
    const where: Placement = placement ?? (target?.next_cursor && first ? { before: first } : { at: "end" });
    setNotice(null);
    move({ origin: { stageId: found.stage.id ?? "", index: found.index, card: found.card }, toStageId, placement: where });
  }, [move]);
  const onMenuMove = useCallback((card: Card, _from: string, to: string) => start(card.id ?? "", to), [start]);
  const onDropCard = useCallback((cardId: string, to: string, before: string | null) => start(cardId, to, before ? { before } : undefined), [start]);
  const onShowMore = useCallback((stageId: string, cursor: string) => {
    setLoadingMore(stageId);
    more.mutate({ stageId, cursor }, { onSettled: () => setLoadingMore(null), onError: (e) => setNotice(e.message) });
  }, [more.mutate]);

  const stages = board.data?.stages ?? [];
  // the stage menu changes with the stages themselves, not with every move (memoised cards)
  const signature = stages.filter((s) => !s.archived).map((s) => `${s.id}\t${s.name}`).join("\n");
  const choices = useMemo(() => (signature ? signature.split("\n") : []).map((line) => {
    const [id = "", name = ""] = line.split("\t");
    return { id, name };
  }), [signature]);

  return (
    <>
      {notice && <p role="alert" className="error">{notice}</p>}
      {board.error && <p role="alert" className="error">{board.error.message}</p>}
      {board.data && isFiltered(view) && <p className="muted" role="status">{board.data.count} deals match.</p>}
      <div className="board" aria-busy={board.isPending}>
        {stages.map((stage) => (
          <BoardColumn key={stage.id} stage={stage} stages={choices} loadingMore={loadingMore === stage.id}
            onMenuMove={onMenuMove} onDropCard={onDropCard} onShowMore={onShowMore} />
        ))}
      </div>
      {pending && (
        <LostReasonDialog dealName={pending.move.origin.card.name ?? "this deal"} reasons={reasons.data ?? []} message={pending.message}
          onChoose={(reason, note) => {
            setPending(null);
            move({ ...pending.move, lostReason: reason, lostNote: note });
          }}
          onCancel={() => {
            setPending(null);
            restore(pending.move.origin);
            setNotice(`${pending.move.origin.card.name} stays where it was: could not move it to ${stageName(pending.move.toStageId)}. `
              + `lost_reason: ${pending.message}`);
          }} />
      )}
    </>
  );
}
