import { lazy, type LazyExoticComponent, type ComponentType } from "react";
import { Navigate, NavLink, Route, Routes } from "react-router-dom";
import { useMe } from "../../api/me";

interface Section {
  path: string;
  label: string;
  screen: LazyExoticComponent<ComponentType>;
}

// One entry per settings page; each page is its own chunk.
const SECTIONS: Section[] = [
  { path: "users", label: "Users and roles", screen: lazy(() => import("./Users")) },
  { path: "api-keys", label: "API keys", screen: lazy(() => import("./ApiKeys")) },
  { path: "custom-fields", label: "Custom fields", screen: lazy(() => import("./CustomFields")) },
  { path: "pipelines", label: "Pipelines and stages", screen: lazy(() => import("./Pipelines")) },
  { path: "lost-reasons", label: "Lost reasons", screen: lazy(() => import("./LostReasons")) },
  { path: "teams", label: "Teams and routing", screen: lazy(() => import("./TeamsRouting")) },
  { path: "sla", label: "SLA and business hours", screen: lazy(() => import("./SlaSettings")) },
  { path: "mail", label: "Mail senders and addresses", screen: lazy(() => import("./MailSettings")) },
  { path: "webhooks", label: "Webhooks", screen: lazy(() => import("./WebhookSettings")) },
];

export default function Settings() {
  const me = useMe();
  const roles = me.data?.roles ?? [];
  if (me.isPending) return <p role="status">Loading…</p>;
  // The API refuses these to members and viewers anyway; the console does not offer them.
  if (!roles.some((r) => r === "owner" || r === "admin")) {
    return <p>Only owners and admins change the settings.</p>;
  }
  return (
    <section aria-labelledby="settings-title" className="settings">
      <h1 id="settings-title">Settings</h1>
      <nav aria-label="Settings" className="subnav">
        {SECTIONS.map((s) => <NavLink key={s.path} to={`/settings/${s.path}`}>{s.label}</NavLink>)}
      </nav>
      <div className="settings-page">
        <Routes>
          <Route index element={<Navigate to={SECTIONS[0]?.path ?? "users"} replace />} />
          {SECTIONS.map((s) => <Route key={s.path} path={`${s.path}/*`} element={<s.screen />} />)}
          <Route path="*" element={<p>There is no such settings page.</p>} />
        </Routes>
      </div>
    </section>
  );
}
