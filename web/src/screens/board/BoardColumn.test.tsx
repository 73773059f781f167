import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BoardColumn } from "./BoardColumn";

afterEach(cleanup);

const stage = {
  id: "s1", name: "Lead", count: 3, next_cursor: "c2", archived: false,
  totals: [{ currency: "EUR", count: 3, total: "300.00", weighted: "30.00" }],
  cards: [{ id: "d1", name: "Big deal", stage_id: "s1", version: 2, amount: { amount: "200.00", currency: "EUR" } },
    { id: "d2", name: "Small deal", stage_id: "s1", version: 1, amount: null }],
};
const stages = [{ id: "s1", name: "Lead" }, { id: "s2", name: "Won" }];

describe("BoardColumn", () => {
  it("shows the API's count, links each card to its page, and asks for the next page", () => {
    const onShowMore = vi.fn();
    const onMenuMove = vi.fn();
    render(
      <MemoryRouter>
        <BoardColumn stage={stage} stages={stages} loadingMore={false} onMenuMove={onMenuMove} onDropCard={vi.fn()} onShowMore={onShowMore} />
      </MemoryRouter>,
    );
    expect(screen.getByTestId("count").textContent).toBe("3");
    expect(screen.getByRole("link", { name: "Big deal" }).getAttribute("href")).toBe("/deals/d1");
    const more = screen.getByRole("button", { name: /^Show more deals in Lead/ });
    expect(more.textContent).toContain("1 left");
    fireEvent.click(more);
    expect(onShowMore).toHaveBeenCalledWith("s1", "c2");
    fireEvent.change(screen.getByLabelText("Move Small deal to stage"), { target: { value: "s2" } });
    expect(onMenuMove).toHaveBeenCalledWith(stage.cards[1], "s1", "s2");
  });
});
