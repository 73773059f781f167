import { useQuery } from "@tanstack/react-query";
import { api, describe } from "./client";

/** The tenant's active users (id, name, email): whom to assign or @mention. */
export function useDirectory() {
  return useQuery({
    queryKey: ["directory"],
    staleTime: 300_000,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/users/directory");
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
}

/** The support teams (for a ticket's team). */
export function useTeams() {
  return useQuery({
    queryKey: ["teams"],
    staleTime: 300_000,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/teams", { params: { query: { limit: 200 } } });
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
}
