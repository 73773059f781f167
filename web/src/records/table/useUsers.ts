import { useQuery } from "@tanstack/react-query";
import { api, describe } from "../../api/client";

export interface UserChoice {
  id: string;
  name: string;
}

/** Users an owner can be assigned to: the tenant's users for owners and admins (GET /v1/users is
 * theirs), else just the caller. */
export function useUsers() {
  return useQuery({
    queryKey: ["users", "choices"],
    staleTime: 60_000,
    queryFn: async (): Promise<UserChoice[]> => {
      const listed = await api.GET("/v1/users");
      if (listed.data) {
        return (listed.data.data ?? [])
          .filter((u) => u.id && u.active !== false)
          .map((u) => ({ id: u.id ?? "", name: u.name || u.email }));
      }
      if (listed.response.status !== 403) throw new Error(describe(listed.error));
      const me = await api.GET("/v1/me");
      if (me.error) throw new Error(describe(me.error));
      const user = me.data.user;
      return user?.id ? [{ id: user.id, name: user.name || user.email }] : [];
    },
  });
}
