import { useQuery } from "@tanstack/react-query";
import { api } from "../../../api/client";
import { raise } from "../problem";

/** The tenant's business-hours calendars, by name. */
export function useCalendars() {
  return useQuery({
    queryKey: ["business-hours"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/business-hours", { params: { query: { limit: 200 } } });
      if (error) raise(error);
      return data.data ?? [];
    },
  });
}

/** The tenant's SLA policies, in the order they are tried. */
export function usePolicies() {
  return useQuery({
    queryKey: ["sla-policies"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/sla-policies", { params: { query: { limit: 200 } } });
      if (error) raise(error);
      return data.data ?? [];
    },
  });
}
