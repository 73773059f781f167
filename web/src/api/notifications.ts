import { useQuery } from "@tanstack/react-query";
import { api, describe } from "./client";

/** The unread notifications (up to 50), polled each minute: one query for the nav badge and My day. */
export function useUnread() {
  return useQuery({
    queryKey: ["notifications", "unread"],
    refetchInterval: 60_000,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/notifications", { params: { query: { unread: true, limit: 50 } } });
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
}
