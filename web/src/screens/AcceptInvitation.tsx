import type { FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { accept, problem, type Tokens } from "../api/session";
import { Field } from "../components/Field";
import { useAuthAction } from "../components/useAuthAction";

/** The invitation email's link lands here: choose a password, and the invitee is signed in. */
export function AcceptInvitation() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const { error, busy, run } = useAuthAction();
  const invitation = params.get("token") ?? "";

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const password = String(new FormData(event.currentTarget).get("password") ?? "");
    await run(async () => {
      const resp = await fetch("/v1/auth/invitations/accept", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ invitation_token: invitation, password, refresh_in_cookie: true }),
      });
      if (!resp.ok) throw await problem(resp);
      accept((await resp.json()) as Tokens);
      navigate("/contacts", { replace: true });
    });
  }

  return (
    <main className="auth" id="main">
      <h1>Join your team</h1>
      {!invitation ? (
        <p role="alert" className="error">This link has no invitation in it; open the link from the email again.</p>
      ) : (
        <form onSubmit={(e) => void submit(e)} noValidate>
          <Field label="Choose a password (at least 10 characters)" name="password" type="password" required
            autoComplete="new-password" errors={error?.fields["password"]} />
          {error && <p role="alert" className="error">{error.message}</p>}
          <button type="submit" disabled={busy}>{busy ? "Joining…" : "Accept the invitation"}</button>
        </form>
      )}
    </main>
  );
}
