import { useQuery } from "@tanstack/react-query";
import { api, describe } from "./client";

/** Who is signed in (user, tenant, roles): cached for the session. */
export function useMe() {
  return useQuery({
    queryKey: ["me"],
    staleTime: 300_000,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/me");
      if (error) throw new Error(describe(error));
      return data;
    },
  });
}

/** Owners and admins: they change the tenant's settings and workflows (the API checks it too). */
export function managesTenant(roles: readonly string[] | undefined): boolean {
  return (roles ?? []).some((r) => r === "owner" || r === "admin");
}
