import { afterEach, describe, expect, it, vi } from "vitest";
import { accept, clear, refresh, token } from "./session";

afterEach(() => {
  clear();
  vi.restoreAllMocks();
});

describe("session", () => {
  it("keeps the access token in memory only", () => {
    accept({ access_token: "abc", expires_in: 900 });
    expect(token()).toBe("abc");
    expect(localStorage.length + sessionStorage.length).toBe(0);
  });

  it("shares one refresh between concurrent callers (a refresh token is single use)", async () => {
    const fetchMock = vi.fn(async () => new Response(JSON.stringify({ access_token: "new", expires_in: 900 }), { status: 200 }));
    vi.stubGlobal("fetch", fetchMock);
    const [a, b] = await Promise.all([refresh(), refresh()]);
    expect([a, b]).toEqual([true, true]);
    expect(fetchMock).toHaveBeenCalledTimes(1);
    expect(token()).toBe("new");
  });

  it("a refused refresh signs out", async () => {
    accept({ access_token: "old", expires_in: 900 });
    vi.stubGlobal("fetch", vi.fn(async () => new Response("{}", { status: 401 })));
    expect(await refresh()).toBe(false);
    expect(token()).toBeNull();
  });
});
