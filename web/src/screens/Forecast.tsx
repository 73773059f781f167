import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, describe } from "../api/client";
import { useDirectory } from "../api/directory";
import { ForecastByOwner } from "./forecast/ForecastByOwner";
import { ownerRows, pct } from "./forecast/forecastRows";
import { SalesTargetForm } from "./forecast/SalesTargetForm";

export default function Forecast() {
  const [period, setPeriod] = useState<"month" | "quarter">("month");
  const [chartOf, setChartOf] = useState("totals");
  const people = useDirectory();
  const forecast = useQuery({
    queryKey: ["forecast", period],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/forecast", { params: { query: { period, group_by: "owner" } } });
      if (error) throw new Error(describe(error));
      return data;
    },
  });
  const periods = forecast.data?.periods ?? [];
  const labels = periods.map((p) => p.period ?? "");
  const rows = ownerRows(periods, people.data ?? []);
  const byOwner = chartOf !== "totals";
  const chart = byOwner
    ? rows.filter((r) => r.period === chartOf).map((r) => ({ name: r.owner, Won: Number(r.won), Commit: Number(r.commit),
      Weighted: Number(r.weighted), Target: r.quota == null ? 0 : Number(r.quota) }))
    : periods.map((p) => ({ name: p.period, Won: Number(p.won ?? 0), Commit: Number(p.commit ?? 0),
      Weighted: Number(p.weighted ?? 0), Target: p.quota == null ? 0 : Number(p.quota) }));
  return (
    <section aria-labelledby="forecast-title">
      <div className="toolbar">
        <h1 id="forecast-title">Forecast</h1>
        <label htmlFor="forecast-period">Periods</label>
        <select id="forecast-period" value={period} onChange={(e) => { setPeriod(e.target.value === "quarter" ? "quarter" : "month"); setChartOf("totals"); }}>
          <option value="month">Months</option>
          <option value="quarter">Quarters</option>
        </select>
        <label htmlFor="forecast-chart">Chart</label>
        <select id="forecast-chart" value={chartOf} onChange={(e) => setChartOf(e.target.value)}>
          <option value="totals">Totals per period</option>
          {labels.map((l) => <option key={l} value={l}>By owner in {l}</option>)}
        </select>
      </div>
      {forecast.error && <p role="alert" className="error">{forecast.error.message}</p>}
      {forecast.isPending && <p role="status">Loading the forecast…</p>}
      {periods.length > 0 && (
        <figure className="card chart" aria-label={byOwner ? `Won, commit and weighted against target per owner in ${chartOf}` : "Won, commit and weighted pipeline against quota per period"}>
          <ResponsiveContainer width="100%" height={260}>
            <BarChart data={chart}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="name" />
              <YAxis />
              <Tooltip />
              <Legend />
              <Bar dataKey="Won" fill="#1b7f3b" />
              <Bar dataKey="Commit" fill="#0b57d0" />
              <Bar dataKey="Weighted" fill="#7a4b00" />
              <Bar dataKey="Target" fill="#4f5863" />
            </BarChart>
          </ResponsiveContainer>
          <figcaption className="muted">The same figures are in the tables below.</figcaption>
        </figure>
      )}
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Forecast per period</caption>
          <thead>
            <tr>
              <th scope="col">Period</th><th scope="col">Won</th><th scope="col">Won deals</th><th scope="col">Commit</th>
              <th scope="col">Best case</th><th scope="col">Weighted</th><th scope="col">Open deals</th>
              <th scope="col">Quota</th><th scope="col">Attainment</th>
            </tr>
          </thead>
          <tbody>
            {periods.map((p) => (
              <tr key={p.period} data-period={p.period}>
                <th scope="row" data-label="Period">{p.period}</th>
                <td data-label="Won" data-testid="won">{p.won}</td>
                <td data-label="Won deals">{p.won_count}</td>
                <td data-label="Commit">{p.commit}</td>
                <td data-label="Best case">{p.best_case}</td>
                <td data-label="Weighted">{p.weighted}</td>
                <td data-label="Open deals">{p.open_count}</td>
                <td data-label="Quota">{p.quota ?? "—"}</td>
                <td data-label="Attainment">{pct(p.attainment)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <ForecastByOwner rows={rows} />
      {labels.length > 0 && <SalesTargetForm kind={period} periods={labels} people={people.data ?? []} />}
    </section>
  );
}
