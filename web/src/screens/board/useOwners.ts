import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { useMe } from "../../api/me";

export interface Owner {
  id: string;
  label: string;
}

/** Who can own a deal, for the owner filter and the deal page: the tenant's users where the
 * signed-in user may list them (owners and admins), else just the signed-in user. */
export function useOwners(): Owner[] {
  const me = useMe();
  const users = useQuery({
    queryKey: ["users", "owners"],
    staleTime: 300_000,
    retry: false,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/users");
      if (error) return null; // a member may not list users
      return data.data ?? [];
    },
  });
  const list = [...(users.data ?? [])];
  const self = me.data?.user;
  if (self?.id && !list.some((u) => u.id === self.id)) list.unshift(self);
  return list.map((u) => ({ id: u.id ?? "", label: u.name || u.email }));
}

export function ownerLabel(owners: Owner[], id: string | null | undefined): string {
  if (!id) return "Nobody";
  return owners.find((o) => o.id === id)?.label ?? "Someone else";
}
