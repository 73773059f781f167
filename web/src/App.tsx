import { lazy, Suspense, useEffect, useState } from "react";
import { Navigate, NavLink, Route, Routes, useLocation } from "react-router-dom";
import { useUnread } from "./api/notifications";
import { onChange, refresh, signOut, token } from "./api/session";
import { SignIn } from "./screens/SignIn";
import { AcceptInvitation } from "./screens/AcceptInvitation";
import { SignUp } from "./screens/SignUp";
import { VerifyEmail } from "./screens/VerifyEmail";
import { VerifyBanner } from "./components/VerifyBanner";

// Each area is its own chunk: the first screen loads only what it shows.
const Contacts = lazy(() => import("./screens/Contacts"));
const Companies = lazy(() => import("./screens/Companies"));
const ContactPage = lazy(() => import("./screens/ContactPage"));
const CompanyPage = lazy(() => import("./screens/CompanyPage"));
const Board = lazy(() => import("./screens/Board"));
const DealPage = lazy(() => import("./screens/deal/DealPage"));
const MyDay = lazy(() => import("./screens/MyDay"));
const Settings = lazy(() => import("./screens/settings"));
const Import = lazy(() => import("./screens/Import"));
const Forecast = lazy(() => import("./screens/Forecast"));
const Tickets = lazy(() => import("./screens/Tickets"));
const TicketPage = lazy(() => import("./screens/TicketPage"));
const KbList = lazy(() => import("./screens/kb/KbList"));
const KbEditor = lazy(() => import("./screens/kb/KbEditor"));
const WorkflowList = lazy(() => import("./screens/workflows/WorkflowList"));
const WorkflowPage = lazy(() => import("./screens/workflows/WorkflowPage"));

/** The unread notifications count on the My day link (polled each minute). */
function UnreadBadge() {
  const n = useUnread().data?.length ?? 0;
  return n > 0 ? <span className="badge count" aria-label={`${n} unread notifications`}>{n >= 50 ? "50+" : n}</span> : null;
}

type SessionState = "restoring" | "in" | "out";

function useSession(): SessionState {
  const [state, setState] = useState<SessionState>(token() ? "in" : "restoring");
  useEffect(() => {
    const off = onChange((signedIn) => setState(signedIn ? "in" : "out"));
    if (!token()) void refresh().then((ok) => setState(ok ? "in" : "out"));
    return () => {
      off();
    };
  }, []);
  return state;
}

export function App() {
  const session = useSession();
  const location = useLocation();
  if (session === "restoring") return <p className="loading" role="status">Loading…</p>;
  if (session === "out") {
    return (
      <Routes>
        <Route path="/signup" element={<SignUp />} />
        <Route path="/signin" element={<SignIn />} />
        <Route path="/accept-invitation" element={<AcceptInvitation />} />
        <Route path="/verify-email" element={<VerifyEmail signedIn={false} />} />
        <Route path="*" element={<Navigate to="/signin" replace state={{ from: location.pathname }} />} />
      </Routes>
    );
  }
  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <header className="topbar">
        <span className="brand">CRM</span>
        <nav aria-label="Main">
          <NavLink to="/my-day">
            My day <UnreadBadge />
          </NavLink>
          <NavLink to="/contacts">Contacts</NavLink>
          <NavLink to="/companies">Companies</NavLink>
          <NavLink to="/pipeline">Pipeline</NavLink>
          <NavLink to="/forecast">Forecast</NavLink>
          <NavLink to="/tickets">Tickets</NavLink>
          <NavLink to="/kb" className="nav-wide">Knowledge base</NavLink>
          <NavLink to="/workflows">Workflows</NavLink>
          <NavLink to="/settings">Settings</NavLink>
        </nav>
        <button type="button" className="link" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <VerifyBanner />
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p role="status">Loading…</p>}>
          <Routes>
            <Route path="/" element={<Navigate to="/contacts" replace />} />
            <Route path="/signin" element={<Navigate to="/contacts" replace />} />
            <Route path="/signup" element={<Navigate to="/contacts" replace />} />
            <Route path="/accept-invitation" element={<AcceptInvitation />} />
            <Route path="/contacts" element={<Contacts />} />
            <Route path="/contacts/import" element={<Import />} />
            <Route path="/contacts/:id" element={<ContactPage />} />
            <Route path="/companies" element={<Companies />} />
            <Route path="/companies/:id" element={<CompanyPage />} />
            <Route path="/pipeline" element={<Board />} />
            <Route path="/deals/:id" element={<DealPage />} />
            <Route path="/forecast" element={<Forecast />} />
            <Route path="/my-day" element={<MyDay />} />
            <Route path="/tickets" element={<Tickets />} />
            <Route path="/tickets/:id" element={<TicketPage />} />
            <Route path="/kb" element={<KbList />} />
            <Route path="/kb/new" element={<KbEditor />} />
            <Route path="/kb/:id" element={<KbEditor />} />
            <Route path="/workflows" element={<WorkflowList />} />
            <Route path="/workflows/new" element={<WorkflowPage />} />
            <Route path="/workflows/:id" element={<WorkflowPage />} />
            <Route path="/verify-email" element={<VerifyEmail signedIn />} />
            <Route path="/settings/*" element={<Settings />} />
            <Route path="*" element={<p>There is nothing at this address.</p>} />
          </Routes>
        </Suspense>
      </main>
    </div>
  );
}
