import { type OwnerRow, pct } from "./forecastRows";

/** Periods by owner: won, commit, best case, weighted, quota (the owner's target) and attainment. */
export function ForecastByOwner({ rows }: { rows: OwnerRow[] }) {
  return (
    <section aria-labelledby="by-owner-title">
      <h2 id="by-owner-title">By owner</h2>
      {rows.length === 0 ? (
        <p className="muted">No deals or targets in these periods.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Forecast per period and owner, with targets and attainment</caption>
            <thead>
              <tr>
                <th scope="col">Period</th><th scope="col">Owner</th><th scope="col">Won</th><th scope="col">Commit</th>
                <th scope="col">Best case</th><th scope="col">Weighted</th><th scope="col">Target</th><th scope="col">Attainment</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={`${r.period}-${r.ownerId ?? "none"}`} data-owner-period={`${r.owner} ${r.period}`}>
                  <td data-label="Period">{r.period}</td>
                  <th scope="row" data-label="Owner">{r.owner}</th>
                  <td data-label="Won">{r.won}</td>
                  <td data-label="Commit">{r.commit}</td>
                  <td data-label="Best case">{r.bestCase}</td>
                  <td data-label="Weighted">{r.weighted}</td>
                  <td data-label="Target" data-testid="target">{r.quota ?? "—"}</td>
                  <td data-label="Attainment" data-testid="attainment">{pct(r.attainment)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
